// A whole file mapped read-only into memory. Packed datasets and the fixed-record formats
// (CIFAR-10, STL-10, zip archives) are read through this, so that the page cache, not the
// process, holds the bytes: every rank on a node shares one copy, and only touched pages load.
import Foundation

/// The read-only bytes of one file, unmapped when the value goes away.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The first byte; valid for `size` bytes (a stand-in pointer when the file is empty).
    public let bytes: UnsafePointer<UInt8>
    public let size: Int
    private let mapping: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DataError(file: path, "cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw DataError(file: path, "is not a regular file")
        }
        size = Int(status.st_size)
        if size == 0 {
            mapping = nil
            bytes = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw DataError(file: path, "cannot be memory-mapped (\(String(cString: strerror(errno))))")
        }
        mapping = address
        bytes = UnsafePointer(address.assumingMemoryBound(to: UInt8.self))
    }

    deinit {
        if let mapping {
            munmap(mapping, size)
        } else {
            UnsafeMutablePointer(mutating: bytes).deallocate()
        }
    }

    /// Little-endian unsigned integer of `width` bytes at `offset` (caller checks bounds).
    public func littleEndian(at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return value
    }
}
