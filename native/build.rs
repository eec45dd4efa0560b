//! Compiles the host half of the C runtime (runtime/host.c) into this crate, and passes
//! the target triple on to the run-time compiler of drivers.

fn main() {
    println!("cargo:rerun-if-changed=runtime/host.c");
    println!("cargo:rerun-if-changed=runtime/host_abi.h");
    println!("cargo:rerun-if-changed=include/mdlsim/wdk.h");
    println!("cargo:rerun-if-changed=include/mdlsim/wdk_io.h");
    cc::Build::new()
        .file("runtime/host.c")
        .include("runtime")
        .include("include")
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Werror=implicit-function-declaration")
        .compile("mdlsim_native_host");
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let host = std::env::var("HOST").expect("cargo sets HOST");
    println!("cargo:rustc-env=MDLSIM_NATIVE_TARGET={target}");
    println!("cargo:rustc-env=MDLSIM_NATIVE_HOST={host}");
}
