//! Host memory standing in for the machine's: one memfd whose page `n` is physical frame
//! `n`, the thread's windows (see [`crate::layout`]) onto it, and the anonymous pages that
//! hold the host copies of MDL headers.
//!
//! A model PTE mapping frame `p` at `va` becomes a `MAP_SHARED` mapping of the memfd's
//! page `p` at the host address of `va`, so two model mappings of one frame alias for
//! native code exactly as they do on Windows (a write through the system mapping is seen
//! through the user mapping). Everything else in a window is `PROT_NONE`: an access there
//! faults, and the fault handler asks the model what Windows would do.
//!
//! This module owns every `unsafe` block that touches host memory; each states why it
//! is sound. The memory is only ever accessed by this thread: by native code while it
//! runs, by the methods here while it does not (native code runs only inside
//! `mdlsim_host_run` on this thread, and calls back into Rust synchronously).

use crate::layout::{Layout, REGION_SPAN, REGIONS, USER_SPAN};
use mdlsim::addr::PAGE_BYTES;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Page protections of a host mapping.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Prot {
    /// No access (a guard page, `PAGE_NOACCESS`).
    None,
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

impl Prot {
    fn bits(self) -> libc::c_int {
        match self {
            Prot::None => libc::PROT_NONE,
            Prot::Read => libc::PROT_READ,
            Prot::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// One thread's windows and physical memory.
#[derive(Debug)]
pub struct HostMemory {
    layout: Layout,
    memfd: OwnedFd,
    /// Frames the memfd holds (its size in pages).
    frames: u64,
    /// A read-write view of the whole memfd, for copying frames to and from the model.
    view: *mut u8,
}

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `mmap` at exactly `addr`, replacing nothing that is not ours: `MAP_FIXED_NOREPLACE`
/// for a fresh reservation, `MAP_FIXED` inside a window already reserved.
fn map_at(
    addr: u64,
    len: u64,
    prot: Prot,
    flags: libc::c_int,
    fd: libc::c_int,
    offset: u64,
) -> io::Result<()> {
    // SAFETY: mapping at a fixed address only replaces what is at [addr, addr + len):
    // either nothing (MAP_FIXED_NOREPLACE fails if anything is there) or part of a window
    // this thread reserved and no Rust reference points into (windows are only ever
    // accessed by native code and through raw pointers here).
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as usize,
            prot.bits(),
            flags,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(last_error("mmap"));
    }
    if p as u64 != addr {
        // An old kernel treated MAP_FIXED_NOREPLACE as a hint: give the range back.
        // SAFETY: `p` is the mapping just made, of `len` bytes, referenced by nothing.
        unsafe { libc::munmap(p, len as usize) };
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("the host address {addr:#x} is taken (the native windows need it free)"),
        ));
    }
    Ok(())
}

const RESERVE: libc::c_int =
    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE;
const REPLACE_NONE: libc::c_int =
    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED;

impl HostMemory {
    /// Reserves thread slot `layout`'s windows (`PROT_NONE`, no memory committed) and
    /// creates its physical memory.
    ///
    /// # Errors
    /// The host refused: an address in the windows is taken, or no memfd.
    pub fn new(layout: Layout) -> io::Result<HostMemory> {
        // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd
        // or -1.
        let fd = unsafe { libc::memfd_create(c"mdlsim-physical".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(last_error("memfd_create"));
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut reserved: Vec<(u64, u64)> = Vec::new();
        let mut reserve = |addr: u64, len: u64| -> io::Result<()> {
            map_at(addr, len, Prot::None, RESERVE, -1, 0)?;
            reserved.push((addr, len));
            Ok(())
        };
        let mut r = reserve(layout.user_base(), USER_SPAN);
        for region in 0..REGIONS {
            if r.is_ok() {
                r = reserve(layout.region_base(region), REGION_SPAN);
            }
        }
        if let Err(e) = r {
            for (addr, len) in reserved {
                // SAFETY: each range is a reservation made just above, referenced by nothing.
                unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) };
            }
            return Err(e);
        }
        Ok(HostMemory {
            layout,
            memfd,
            frames: 0,
            view: std::ptr::null_mut(),
        })
    }

    /// The windows' addresses.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Grows physical memory to at least `frames` frames (a machine's RAM).
    ///
    /// # Errors
    /// The host refused to grow the memfd or to map it.
    pub fn ensure_frames(&mut self, frames: u64) -> io::Result<()> {
        if frames <= self.frames {
            return Ok(());
        }
        let bytes = frames
            .checked_mul(PAGE_BYTES as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "RAM size overflows"))?;
        // SAFETY: ftruncate on our own descriptor; growing a memfd commits no memory.
        if unsafe { libc::ftruncate(self.memfd.as_raw_fd(), bytes as libc::off_t) } != 0 {
            return Err(last_error("ftruncate"));
        }
        if !self.view.is_null() {
            // SAFETY: the old view, of the old size; no reference into it outlives the
            // methods below, which borrow `self`.
            unsafe { libc::munmap(self.view.cast(), (self.frames * PAGE_BYTES as u64) as usize) };
            self.view = std::ptr::null_mut();
            self.frames = 0;
        }
        // SAFETY: a fresh shared mapping of the whole memfd at an address the kernel picks.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                self.memfd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_error("mmap of physical memory"));
        }
        self.view = p.cast();
        self.frames = frames;
        Ok(())
    }

    /// Frame `pfn`'s bytes as the host holds them.
    ///
    /// # Panics
    /// Never for a frame below [`HostMemory::ensure_frames`]' count; `None` otherwise.
    pub fn frame(&mut self, pfn: u64) -> Option<&mut [u8]> {
        if pfn >= self.frames {
            return None;
        }
        // SAFETY: the view covers `frames` pages and `pfn` is below that; the bytes are
        // only touched by this thread, and native code is not running while `self` is
        // borrowed (module documentation), so the slice is the only access while it lives.
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.view.add(pfn as usize * PAGE_BYTES), PAGE_BYTES)
        })
    }

    /// Maps `pages` frames from `pfn` at host address `at` (inside a window).
    ///
    /// # Errors
    /// The host refused the mapping.
    pub fn map_frames(&mut self, at: u64, pfn: u64, pages: u64, prot: Prot) -> io::Result<()> {
        let len = pages * PAGE_BYTES as u64;
        self.check_inside(at, len)?;
        if pfn.checked_add(pages).is_none_or(|end| end > self.frames) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame {pfn:#x} is past the physical memory"),
            ));
        }
        map_at(
            at,
            len,
            prot,
            libc::MAP_SHARED | libc::MAP_FIXED,
            self.memfd.as_raw_fd(),
            pfn * PAGE_BYTES as u64,
        )
    }

    /// Maps fresh zeroed private pages at `at` (an MDL header's host copy).
    ///
    /// # Errors
    /// The host refused the mapping.
    pub fn map_private(&mut self, at: u64, len: u64) -> io::Result<()> {
        self.check_inside(at, len)?;
        map_at(
            at,
            len,
            Prot::ReadWrite,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    }

    /// Returns `[at, at + len)` to `PROT_NONE` (still reserved).
    ///
    /// # Errors
    /// The host refused.
    pub fn unmap(&mut self, at: u64, len: u64) -> io::Result<()> {
        self.check_inside(at, len)?;
        map_at(at, len, Prot::None, REPLACE_NONE, -1, 0)
    }

    /// Changes the protection of `[at, at + len)`, pages of this thread's windows that
    /// are mapped (a traced page closed after its access, or opened for the next one).
    ///
    /// # Errors
    /// The host refused, or the range is not inside the windows.
    pub fn protect(&mut self, at: u64, len: u64, prot: Prot) -> io::Result<()> {
        self.check_inside(at, len)?;
        // SAFETY: the range lies inside this thread's windows (checked above), which
        // hold only the model's pages: no Rust object lives there, so changing their
        // protection cannot invalidate a reference.
        let r = unsafe { libc::mprotect(at as *mut libc::c_void, len as usize, prot.bits()) };
        if r == 0 {
            Ok(())
        } else {
            Err(last_error("mprotect"))
        }
    }

    /// Bytes at host address `at` inside a private mapping made by
    /// [`HostMemory::map_private`].
    ///
    /// # Safety
    /// `[at, at + len)` must be mapped readable and writable by [`HostMemory::map_private`]
    /// and not unmapped since.
    pub unsafe fn private_bytes(&mut self, at: u64, len: usize) -> &mut [u8] {
        // SAFETY: the caller guarantees the range is a live private mapping; only this
        // thread touches it, and native code is not running while `self` is borrowed.
        unsafe { std::slice::from_raw_parts_mut(at as *mut u8, len) }
    }

    fn check_inside(&self, at: u64, len: u64) -> io::Result<()> {
        let end = at.checked_add(len);
        let inside = |base: u64, span: u64| at >= base && end.is_some_and(|e| e <= base + span);
        let ok = inside(self.layout.user_base(), USER_SPAN)
            || (0..REGIONS).any(|r| inside(self.layout.region_base(r), REGION_SPAN));
        if ok && at % PAGE_BYTES as u64 == 0 {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{at:#x}+{len:#x} is not a page range of this thread's windows"),
            ))
        }
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: the windows and the view were mapped by this value and nothing refers
        // into them once it is dropped.
        unsafe {
            libc::munmap(
                self.layout.user_base() as *mut libc::c_void,
                USER_SPAN as usize,
            );
            for region in 0..REGIONS {
                libc::munmap(
                    self.layout.region_base(region) as *mut libc::c_void,
                    REGION_SPAN as usize,
                );
            }
            if !self.view.is_null() {
                libc::munmap(self.view.cast(), (self.frames * PAGE_BYTES as u64) as usize);
            }
        }
    }
}
