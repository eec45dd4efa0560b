//! A driver's C source, compiled and loaded: [`Driver::compile`] builds it with the
//! WDK-shaped interface into a shared object (with the `cc` crate's compiler detection),
//! and loads it into the test process.
//!
//! The headers and the driver half of the runtime are embedded in this crate and
//! written next to the objects, so a driver compiles the same wherever the crate comes
//! from. Objects are cached by the hash of everything that goes into them.

use crate::run::{HostTable, Thunk, host_table};
use mdlsim::{Fault, Kernel, ModelError};
use std::ffi::{CString, c_int, c_void};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The interface and the runtime, as written into the build directory.
const FILES: &[(&str, &str)] = &[
    (
        "include/mdlsim/wdk.h",
        include_str!("../include/mdlsim/wdk.h"),
    ),
    (
        "include/mdlsim/wdk_io.h",
        include_str!("../include/mdlsim/wdk_io.h"),
    ),
    ("include/wdm.h", include_str!("../include/wdm.h")),
    ("include/ntddk.h", include_str!("../include/ntddk.h")),
    ("include/ntifs.h", include_str!("../include/ntifs.h")),
    ("rt/host_abi.h", include_str!("../runtime/host_abi.h")),
    (
        "include/mdlsim/wdk_flt.h",
        include_str!("../include/mdlsim/wdk_flt.h"),
    ),
    (
        "include/fltKernel.h",
        include_str!("../include/fltKernel.h"),
    ),
    (
        "include/fltkernel.h",
        include_str!("../include/fltkernel.h"),
    ),
    ("rt/driver_rt.c", include_str!("../runtime/driver_rt.c")),
    ("rt/driver_flt.c", include_str!("../runtime/driver_flt.c")),
];

/// Flags every driver is compiled with, beyond the `cc` crate's own (`-O1 -g -fPIC`).
const FLAGS: &[&str] = &[
    "-std=gnu11",
    "-shared",
    "-fno-strict-aliasing",
    "-Wall",
    "-Werror=implicit-function-declaration",
    // Pool tags are multi-character constants ('gaTP'), as in every driver.
    "-Wno-multichar",
    // A call to a DDI the interface does not have is a link error, not a crash.
    "-Wl,--no-undefined",
    // The driver's memcpy / memmove / memset are the runtime's (model memory goes
    // through the model): calls bind inside the object and are never inlined away.
    "-Wl,-Bsymbolic-functions",
    "-fno-builtin-memcpy",
    "-fno-builtin-memmove",
    "-fno-builtin-memset",
];

/// Why a driver could not be built or loaded.
#[derive(Debug)]
pub enum BuildError {
    /// The source could not be read, or the build directory written.
    Io(PathBuf, std::io::Error),
    /// No C compiler was found.
    Compiler(String),
    /// The compiler rejected the source: its command line and output.
    Compile {
        /// The command that ran.
        command: String,
        /// What the compiler printed.
        output: String,
    },
    /// The object did not load, or lacks an entry point.
    Load(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            BuildError::Compiler(e) => write!(f, "no C compiler: {e}"),
            BuildError::Compile { command, output } => {
                write!(f, "the driver did not compile:\n{command}\n{output}")
            }
            BuildError::Load(e) => write!(f, "the driver did not load: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A driver's C code, compiled and loaded, with its entry points.
///
/// Loaded objects stay loaded until the process ends (a strategy's clone may still run
/// their code). A driver's global variables are shared by every case and thread: keep a
/// request's state in the context `MdlsimExpose` returns, as a driver keeps it in its
/// device extension or the IRP.
pub struct Driver {
    name: String,
    path: PathBuf,
    /// The `dlopen` handle (never closed).
    handle: usize,
    call: Thunk,
    pub(crate) expose: Thunk,
    pub(crate) retire: Thunk,
    /// Whether the driver defines `MdlsimExpose` and `MdlsimRetire`.
    pub(crate) is_strategy: bool,
    pub(crate) dispatch: Thunk,
    pub(crate) cancel: Thunk,
    pub(crate) pre: Thunk,
    pub(crate) post: Thunk,
    pub(crate) entry: Thunk,
    /// Whether the driver defines `DriverEntry`.
    pub(crate) has_entry: bool,
    /// Whether its loads and stores to user memory are traced ([`Driver::trace_accesses`]).
    pub(crate) trace: bool,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

/// `MDLSIM_CALL_ARGS` (`runtime/host_abi.h`).
#[repr(C)]
struct CallArgs {
    function: *mut c_void,
    argument: u64,
    result: u64,
}

/// The process-wide table every driver's `MdlsimInit` keeps a pointer to.
fn table() -> &'static HostTable {
    static TABLE: OnceLock<HostTable> = OnceLock::new();
    TABLE.get_or_init(host_table)
}

impl Driver {
    /// Compiles `source` (a C file that `#include <mdlsim/wdk.h>` or `<wdm.h>` and
    /// defines `MdlsimExpose` and `MdlsimRetire`, or the routines [`Driver::call`] runs)
    /// and loads it.
    ///
    /// # Errors
    /// A [`BuildError`]: the file is unreadable, no compiler, the compiler's diagnostics,
    /// or a missing entry point.
    pub fn compile(source: impl AsRef<Path>) -> Result<Driver, BuildError> {
        Driver::compile_with(source, &[])
    }

    /// [`Driver::compile`] with preprocessor definitions (`"NAME"` or `"NAME=VALUE"`, as
    /// `-D`): one source, several build configurations. The driver's name lists them
    /// (`bounce[UNZEROED]`).
    ///
    /// # Errors
    /// As [`Driver::compile`].
    pub fn compile_with(source: impl AsRef<Path>, defines: &[&str]) -> Result<Driver, BuildError> {
        let source = source.as_ref();
        let text = std::fs::read(source).map_err(|e| BuildError::Io(source.into(), e))?;
        let stem = source
            .file_stem()
            .map_or("driver".into(), |s| s.to_string_lossy().into_owned());
        let name = if defines.is_empty() {
            stem.clone()
        } else {
            format!("{stem}[{}]", defines.join(","))
        };
        let dir = build_dir();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        local_sources(source).hash(&mut h);
        defines.hash(&mut h);
        FILES.hash(&mut h);
        FLAGS.hash(&mut h);
        env!("MDLSIM_NATIVE_TARGET").hash(&mut h);
        let object = dir.join(format!("{stem}-{:016x}.so", h.finish()));
        if !object.exists() {
            build(&dir, source, defines, &object)?;
        }
        load(name, object)
    }

    /// Runs the driver's C function `function` (`ULONG64 function(ULONG64)`) with
    /// `argument` against the model behind `k`, in its current context: for testing one
    /// routine of a driver (a helper, a dispatch routine's buffer handling) on its own.
    /// A pointer argument is a host address ([`crate::host_address`]).
    ///
    /// # Errors
    /// What the function did to the system, as for a strategy (a bug check, an exception
    /// no `__try` caught, a model error); a model error if there is no such symbol.
    ///
    /// # Safety
    /// `function` must name a function of the driver with the C signature
    /// `ULONG64 function(ULONG64)`: the symbol is looked up by name and called with that
    /// signature, so a data symbol or another signature is undefined behaviour. What the
    /// function does to model memory is the model's business (faults, bug checks); what
    /// it does to host memory (its own globals, a wild pointer outside the model's
    /// windows) is not checked.
    pub unsafe fn call(
        &self,
        k: &mut Kernel<'_>,
        function: &str,
        argument: u64,
    ) -> mdlsim::Result<u64> {
        let missing = || {
            Fault::Model(ModelError::Unsupported(format!(
                "{}: no function {function}",
                self.name
            )))
        };
        let name = CString::new(function).map_err(|_| missing())?;
        // SAFETY: `handle` is a live library handle (never closed) and `name` a C string.
        let f = unsafe { libc::dlsym(self.handle as *mut c_void, name.as_ptr()) };
        if f.is_null() {
            return Err(missing());
        }
        let mut args = CallArgs {
            function: f,
            argument,
            result: 0,
        };
        crate::run::run(
            k,
            self.call,
            (&mut args as *mut CallArgs).cast(),
            self.trace,
        )?;
        Ok(args.result)
    }

    /// Whether the driver's own loads and stores (plain C dereferences, not DDIs) to user
    /// memory are made one at a time, each judged and logged by the model: on by
    /// default. Each such access is then a fault and a single step on the host, so the
    /// model sees all of them: a second load of a user byte within one dispatch is a
    /// double fetch, and an access outside `__try` is caught on any page, not only on the
    /// page's first touch in a call. The traced pages are user addresses, paged pool (each
    /// access judged against the IRQL) and the frames of process memory at any address
    /// (an MDL's system mapping of a user buffer); non-paged pool and the driver's own
    /// memory run at full speed. Off, each page is judged on its first touch in a call
    /// only, and plain loads are not logged: faster, and blind to double fetches made by
    /// plain loads. Turn it off to debug a driver under gdb or valgrind, which take the
    /// single-step traps for themselves.
    pub fn trace_accesses(mut self, on: bool) -> Driver {
        self.trace = on;
        self
    }

    /// The file stem of the source.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where objects are built: `MDLSIM_NATIVE_DIR`, else a directory in the temporary one.
fn build_dir() -> PathBuf {
    match std::env::var_os("MDLSIM_NATIVE_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join("mdlsim-native"),
    }
}

/// The C sources and headers beside `source` (what a `#include "..."` may pull in), by
/// name, for the cache key.
fn local_sources(source: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = source.parent().unwrap_or(Path::new("."));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c" || x == "h"))
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect();
    out.sort();
    out
}

/// A suffix no other build writing at the same time uses (another process, or another
/// thread of this one: tests build drivers side by side), for a file renamed into place.
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

fn build(dir: &Path, source: &Path, defines: &[&str], object: &Path) -> Result<(), BuildError> {
    let io = |p: &Path, e| BuildError::Io(p.into(), e);
    for (rel, text) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let same = std::fs::read_to_string(&p).is_ok_and(|t| t == *text);
        if !same {
            let tmp = p.with_extension(format!("tmp{}", unique()));
            std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &p).map_err(|e| io(&p, e))?;
        }
    }
    let tool = cc::Build::new()
        .target(env!("MDLSIM_NATIVE_TARGET"))
        .host(env!("MDLSIM_NATIVE_HOST"))
        .opt_level(1)
        .debug(true)
        .pic(true)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .try_get_compiler()
        .map_err(|e| BuildError::Compiler(e.to_string()))?;
    let tmp = object.with_extension(format!("tmp{}.so", unique()));
    let mut cmd = tool.to_command();
    cmd.args(FLAGS)
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg("-I")
        .arg(dir.join("include"))
        .arg("-I")
        .arg(dir.join("rt"))
        .arg("-o")
        .arg(&tmp)
        .arg(source)
        .arg(dir.join("rt/driver_rt.c"));
    let out = cmd
        .output()
        .map_err(|e| BuildError::Compiler(e.to_string()))?;
    if !out.status.success() {
        return Err(BuildError::Compile {
            command: format!("{cmd:?}"),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    std::fs::rename(&tmp, object).map_err(|e| io(object, e))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl call
    // on this thread; it is copied at once.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

fn load(name: String, path: PathBuf) -> Result<Driver, BuildError> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| BuildError::Load(format!("{}: a NUL in the path", path.display())))?;
    // SAFETY: loads a shared object built above from the driver and driver_rt.c; its
    // initialisers are the C runtime's (none run driver code).
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(BuildError::Load(dl_error()));
    }
    let symbol = |s: &std::ffi::CStr| -> Result<*mut c_void, BuildError> {
        // SAFETY: `handle` is a live library handle (never closed) and `s` a C string.
        let p = unsafe { libc::dlsym(handle, s.as_ptr()) };
        if p.is_null() {
            Err(BuildError::Load(format!(
                "{}: no {} (define MdlsimExpose and MdlsimRetire)",
                path.display(),
                s.to_string_lossy()
            )))
        } else {
            Ok(p)
        }
    };
    let init = symbol(c"MdlsimInit")?;
    let expose = symbol(c"MdlsimThunkExpose")?;
    let retire = symbol(c"MdlsimThunkRetire")?;
    let call = symbol(c"MdlsimThunkCall")?;
    let is_strategy = symbol(c"MdlsimExpose").is_ok() && symbol(c"MdlsimRetire").is_ok();
    let dispatch = symbol(c"MdlsimThunkDispatch")?;
    let cancel = symbol(c"MdlsimThunkCancel")?;
    let pre = symbol(c"MdlsimThunkPreOperation")?;
    let post = symbol(c"MdlsimThunkPostOperation")?;
    let entry = symbol(c"MdlsimThunkDriverEntry")?;
    let has_entry = symbol(c"DriverEntry").is_ok();
    // SAFETY: the symbols are driver_rt.c's functions of these exact signatures.
    let (init, expose, retire, call, dispatch, cancel, entry, pre, post) = unsafe {
        (
            std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*const HostTable) -> c_int>(
                init,
            ),
            std::mem::transmute::<*mut c_void, Thunk>(expose),
            std::mem::transmute::<*mut c_void, Thunk>(retire),
            std::mem::transmute::<*mut c_void, Thunk>(call),
            std::mem::transmute::<*mut c_void, Thunk>(dispatch),
            std::mem::transmute::<*mut c_void, Thunk>(cancel),
            std::mem::transmute::<*mut c_void, Thunk>(entry),
            std::mem::transmute::<*mut c_void, Thunk>(pre),
            std::mem::transmute::<*mut c_void, Thunk>(post),
        )
    };
    // SAFETY: the table is 'static and matches MDLSIM_HOST; MdlsimInit only reads it.
    if unsafe { init(table()) } != 0 {
        return Err(BuildError::Load(format!(
            "{}: built for another version of the runtime",
            path.display()
        )));
    }
    Ok(Driver {
        name,
        path,
        handle: handle as usize,
        call,
        expose,
        retire,
        is_strategy,
        dispatch,
        cancel,
        pre,
        post,
        entry,
        has_entry,
        trace: true,
    })
}
