// Writes a packed dataset (PackedFile.swift) in constant memory: images go through a 4 MiB
// buffer into a temporary file beside the destination, the header (count, checksum) is written
// last, and the file is synced and renamed over the destination, so a crash or a bad input
// never leaves a half-written dataset under the final name. Under `mpirun` each rank holds one
// writer on the same temporary file and writes its block of images at their own offset
// (Prepare.swift); rank 0, which created the file, publishes it.
import Foundation

/// One packed file being written, or one rank's block of it. Call `finish()` to publish it; a
/// writer that created the file and is dropped before publishing removes it.
public final class PackedWriter {
    public let path: String
    public let shape: ImageShape
    public private(set) var count = 0
    public private(set) var checksum: UInt32 = 0
    private let temporaryPath: String
    private let createdFile: Bool
    private var descriptor: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private let bufferCapacity = 4 << 20
    private var buffered = 0
    /// Where the buffered bytes go in the file.
    private var offset: Int

    public convenience init(path: String, shape: ImageShape) throws {
        try self.init(path: path, shape: shape, temporaryPath: "\(path).tmp-\(getpid())", firstImage: 0, create: true)
    }

    /// A writer of images `firstImage`, `firstImage + 1`, ... into `temporaryPath`, which it
    /// creates (empty) when `create`, and otherwise opens as another rank created it.
    init(path: String, shape: ImageShape, temporaryPath: String, firstImage: Int, create: Bool) throws {
        self.path = path
        self.shape = shape
        self.temporaryPath = temporaryPath
        createdFile = create
        descriptor = open(temporaryPath, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0o644)
        guard descriptor >= 0 else {
            throw DataError(file: temporaryPath, "cannot be \(create ? "created" : "opened") (\(String(cString: strerror(errno))))")
        }
        buffer = .allocate(capacity: bufferCapacity)
        offset = PackedHeader.size + firstImage * shape.byteCount
    }

    deinit {
        buffer.deallocate()
        if descriptor >= 0 {
            close(descriptor)
            if createdFile { unlink(temporaryPath) }
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

    /// Publishes this writer's images as the whole file.
    public func finish() throws { try publish(count: count, checksum: checksum) }

    /// Writes out and syncs this writer's images, so that another rank may publish the file.
    func completeBlock() throws {
        try flush()
        guard fsync(descriptor) == 0 else { throw failure("cannot be synced") }
    }

    /// Moves this writer's images, written from image `first` on, to start at image `target`
    /// (before `first`): closes the gap that the images skipped before them left.
    func moveImages(from first: Int, to target: Int) throws {
        try flush()
        let (bytes, source, destination) = (count * shape.byteCount, PackedHeader.size + first * shape.byteCount,
                                            PackedHeader.size + target * shape.byteCount)
        // In ascending pieces: each piece is read before any write reaches it, as the destination lies before the source.
        var done = 0
        while done < bytes {
            let piece = min(bytes - done, bufferCapacity)
            guard pread(descriptor, buffer, piece, off_t(source + done)) == piece else { throw failure("cannot be read back") }
            try write(buffer, count: piece, at: destination + done)
            done += piece
        }
        offset = destination + bytes
    }

    /// Writes the header for `count` images with `checksum`, cuts the file to their size, syncs
    /// it and renames it into place.
    func publish(count: Int, checksum: UInt32) throws {
        try flush()
        let header = PackedHeader(shape: shape, count: count, checksum: checksum).bytes
        guard ftruncate(descriptor, off_t(PackedHeader.size + count * shape.byteCount)) == 0 else { throw failure("cannot be cut to size") }
        try header.withUnsafeBufferPointer { try write($0.baseAddress!, count: $0.count, at: 0) }
        guard fsync(descriptor) == 0 else { throw failure("cannot be synced") }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, path) == 0 else {
            let error = failure("cannot be renamed to \(path)")
            unlink(temporaryPath)
            throw error
        }
    }

    private func flush() throws {
        try write(buffer, count: buffered, at: offset)
        offset += buffered
        buffered = 0
    }

    private func write(_ bytes: UnsafePointer<UInt8>, count: Int, at position: Int) throws {
        var done = 0
        while done < count {
            let written = pwrite(descriptor, bytes + done, count - done, off_t(position + done))
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure("cannot be written") }
            done += written
        }
    }

    private func failure(_ what: String) -> DataError {
        DataError(file: temporaryPath, "\(what) (\(String(cString: strerror(errno))))")
    }
}
