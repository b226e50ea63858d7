// Writes a packed dataset (PackedFile.swift) in constant memory: images are appended through a
// 4 MiB buffer to `<out>.tmp-<pid>` beside the destination, the header (count, checksum) is
// written last, and the file is synced and renamed over `<out>`, so a crash or a bad input
// never leaves a half-written dataset under the final name.
import Foundation

/// One packed file being written. Call `finish()` to publish it; a writer dropped without
/// `finish()` removes its temporary file.
public final class PackedWriter {
    public let path: String
    public let shape: ImageShape
    public private(set) var count = 0
    public private(set) var checksum: UInt32 = 0
    private let temporaryPath: String
    private var descriptor: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private let bufferCapacity = 4 << 20
    private var buffered = 0

    public init(path: String, shape: ImageShape) throws {
        self.path = path
        self.shape = shape
        temporaryPath = "\(path).tmp-\(getpid())"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw DataError(file: temporaryPath, "cannot be created (\(String(cString: strerror(errno))))")
        }
        buffer = .allocate(capacity: bufferCapacity)
        let header = PackedHeader(shape: shape, count: 0, checksum: 0).bytes
        try header.withUnsafeBufferPointer { try write($0.baseAddress!, count: $0.count) }
    }

    deinit {
        buffer.deallocate()
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    /// Appends one image of `shape.byteCount` bytes, CHW.
    public func append(_ image: UnsafePointer<UInt8>) throws {
        checksum = crc32(checksum, image, count: shape.byteCount)
        var done = 0
        while done < shape.byteCount {
            let piece = min(shape.byteCount - done, bufferCapacity - buffered)
            (buffer + buffered).update(from: image + done, count: piece)
            buffered += piece
            done += piece
            if buffered == bufferCapacity { try flush() }
        }
        count += 1
    }

    /// Writes the header, syncs and renames the file into place.
    public func finish() throws {
        try flush()
        let header = PackedHeader(shape: shape, count: count, checksum: checksum).bytes
        let written = header.withUnsafeBufferPointer { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == header.count, fsync(descriptor) == 0 else { throw failure("cannot be written") }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, path) == 0 else {
            let error = failure("cannot be renamed to \(path)")
            unlink(temporaryPath)
            throw error
        }
    }

    private func flush() throws {
        try write(buffer, count: buffered)
        buffered = 0
    }

    private func write(_ bytes: UnsafePointer<UInt8>, count: Int) throws {
        var done = 0
        while done < count {
            let written = Foundation.write(descriptor, bytes + done, count - done)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure("cannot be written") }
            done += written
        }
    }

    private func failure(_ what: String) -> DataError {
        DataError(file: temporaryPath, "\(what) (\(String(cString: strerror(errno))))")
    }
}
