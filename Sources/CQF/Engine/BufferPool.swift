// Where the large tensor buffers come from. A training step allocates and frees the same few
// dozen sizes (43 on bench config a) thousands of times. glibc serves such buffers badly either
// way: with mmap, the kernel zeroes fresh pages for every step (a quarter of the step's time,
// measured); from its heap, long-lived saved activations interleave with short-lived
// temporaries and the heap fragments (measured on config a: a 2.76 GB heap for 1.12 GB of
// live tensors). So large buffers are mapped once and, when freed, kept on a free list for their
// exact size: in steady state each size holds as many buffers as were ever live at once.
import Foundation

enum BufferPool {
    /// Smaller buffers go to malloc: they are many, short-lived and do not fragment its heap.
    static let threshold = 64 << 10

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]

    /// `bytes` of memory aligned to at least 64 bytes.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= threshold else { return UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 4), alignment: 64) }
        lock.lock()
        if let reused = free[bytes]?.popLast() {
            lock.unlock()
            return reused
        }
        lock.unlock()
        guard let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED else {
            fatalError("out of memory: mmap of \(bytes >> 20) MB for a tensor failed (errno \(errno))")
        }
        return mapped
    }

    static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= threshold else { pointer.deallocate(); return }
        lock.lock()
        free[bytes, default: []].append(pointer)
        lock.unlock()
    }

    /// Returns the free buffers to the system: after work whose sizes the training steps do
    /// not share (sample grids, evaluation), so their buffers do not stay beside the step's.
    static func trim() {
        lock.lock()
        for (bytes, pointers) in free { for pointer in pointers { munmap(pointer, bytes) } }
        free = [:]
        lock.unlock()
    }
}
