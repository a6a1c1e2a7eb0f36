//! Memory for one argon2 computation, mapped from the kernel on creation and unmapped on drop.
//! Invariant: the mapping is private, anonymous and page-aligned (so `Block`'s 64-byte alignment
//! holds), zero-filled (a valid `Block` pattern), and lives exactly as long as the value.
//!
//! Why not the heap: glibc serves a 19 MiB request from a malloc arena once its dynamic mmap
//! threshold has grown past that size, and arenas keep freed memory; with one arena per blocking
//! thread, a login flood left gigabytes resident after it ended (issue 14, item 3). A mapping of
//! our own goes back to the system the moment the hash is done.

use std::io;
use std::ptr::NonNull;

use argon2::Block;

pub struct Argon2Memory {
    blocks: NonNull<Block>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; moving it to another thread moves the owner.
unsafe impl Send for Argon2Memory {}

impl Argon2Memory {
    /// `blocks` argon2 blocks (1 KiB each), mapped and faulted in at once: every page is written
    /// by the hash anyway, and one populate is cheaper than thousands of page faults.
    pub fn new(blocks: usize) -> io::Result<Argon2Memory> {
        let bytes = blocks
            .max(1)
            .checked_mul(size_of::<Block>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "argon2 memory size overflows"))?;
        #[cfg(target_os = "linux")]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        #[cfg(not(target_os = "linux"))]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: an anonymous private mapping of a non-zero length at an address of the kernel's
        // choosing; the result is checked before use.
        let mapped =
            unsafe { libc::mmap(std::ptr::null_mut(), bytes, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        if mapped == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let blocks_ptr = NonNull::new(mapped.cast::<Block>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Argon2Memory { blocks: blocks_ptr, len: blocks.max(1) })
    }
}

impl AsMut<[Block]> for Argon2Memory {
    fn as_mut(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `len` blocks, is aligned (page > 64 bytes), zero-initialized by
        // the kernel (all-zero is a valid `Block`), and borrowed mutably through `&mut self` only.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len) }
    }
}

impl Drop for Argon2Memory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing borrows any more.
        unsafe { libc::munmap(self.blocks.as_ptr().cast(), self.len * size_of::<Block>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping is usable as blocks, starts zeroed and is aligned for `Block`.
    #[test]
    fn memory_is_zeroed_aligned_blocks() {
        let mut memory = Argon2Memory::new(64).unwrap();
        let blocks = memory.as_mut();
        assert_eq!(blocks.len(), 64);
        assert_eq!(blocks.as_ptr() as usize % align_of::<Block>(), 0);
        assert!(blocks.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
    }
}
