// The packed dataset file that `prepare` writes and every rank memory-maps: a 64-byte header,
// then the images as uint8, NCHW, back to back, so image i is one slice at a computable offset.
//
//   offset  size  field (little-endian)
//        0     8  magic "CQFIMAGE"
//        8     4  version (1)
//       12     4  channels
//       16     4  height
//       20     4  width
//       24     8  count
//       32     4  checksum: CRC-32 (zlib) of all image bytes
//       36    28  zero
//       64        count x channels x height x width bytes
import CImageCodecs
import Foundation

/// The fixed header of a packed file.
public struct PackedHeader: Equatable, Sendable {
    public static let magic = Array("CQFIMAGE".utf8)
    public static let version: UInt32 = 1
    public static let size = 64

    public var shape: ImageShape
    public var count: Int
    public var checksum: UInt32

    public init(shape: ImageShape, count: Int, checksum: UInt32) {
        self.shape = shape
        self.count = count
        self.checksum = checksum
    }

    /// The 64 header bytes.
    public var bytes: [UInt8] {
        var bytes = PackedHeader.magic
        func append(_ value: UInt64, _ width: Int) {
            for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        }
        append(UInt64(PackedHeader.version), 4)
        append(UInt64(shape.channels), 4)
        append(UInt64(shape.height), 4)
        append(UInt64(shape.width), 4)
        append(UInt64(count), 8)
        append(UInt64(checksum), 4)
        bytes += [UInt8](repeating: 0, count: PackedHeader.size - bytes.count)
        return bytes
    }
}

/// CRC-32 (zlib's) of `count` bytes, continuing from `crc`; zlib takes 32-bit lengths, so
/// large buffers go in 1 GiB pieces.
public func crc32(_ crc: UInt32, _ bytes: UnsafePointer<UInt8>, count: Int) -> UInt32 {
    var crc = UInt(crc)
    var done = 0
    while done < count {
        let piece = min(count - done, 1 << 30)
        crc = CImageCodecs.crc32(crc, bytes + done, UInt32(piece))
        done += piece
    }
    return UInt32(crc)
}

/// The CRC-32 of bytes A followed by bytes B, from the CRC of each and B's length.
public func crc32Combine(_ first: UInt32, _ second: UInt32, count: Int) -> UInt32 {
    UInt32(CImageCodecs.crc32_combine(UInt(first), UInt(second), count))
}

/// A packed file, memory-mapped: reading an image is one copy out of the page cache.
public final class PackedDataset: ImageDataset, @unchecked Sendable {
    public let header: PackedHeader
    private let file: MappedFile

    public var shape: ImageShape { header.shape }
    public var count: Int { header.count }

    /// Opens and checks `path`: magic, version, a size that matches the header, and (unless
    /// `verifyChecksum` is false) the CRC-32 of the images, which reads the whole file once.
    public init(path: String, verifyChecksum: Bool = true) throws {
        file = try MappedFile(path: path)
        guard file.size >= PackedHeader.size else {
            throw DataError(file: path, "is \(file.size) bytes, too short for the 64-byte header of a packed dataset (written by `Distributed prepare`)")
        }
        guard Array(UnsafeBufferPointer(start: file.bytes, count: 8)) == PackedHeader.magic else {
            throw DataError(file: path, "expected a packed dataset starting with \"CQFIMAGE\" (written by `Distributed prepare`), found other bytes")
        }
        let version = file.littleEndian(at: 8, width: 4)
        guard version == UInt64(PackedHeader.version) else {
            throw DataError(file: path, "expected packed format version \(PackedHeader.version), found version \(version)")
        }
        let shape = ImageShape(channels: Int(file.littleEndian(at: 12, width: 4)),
                               height: Int(file.littleEndian(at: 16, width: 4)),
                               width: Int(file.littleEndian(at: 20, width: 4)))
        let count = file.littleEndian(at: 24, width: 8)
        guard [1, 3].contains(shape.channels), (1...65536).contains(shape.height), (1...65536).contains(shape.width) else {
            throw DataError(file: path, "has an impossible header (images of \(shape)); expected 1 or 3 channels and sides up to 65536")
        }
        // `prepare` never writes an empty file, and only a first image present in the file
        // bounds the image size the header claims (up to 12 GiB) before a reader allocates it.
        guard count > 0 else {
            throw DataError(file: path, "has a header that says it holds no images; `Distributed prepare` writes at least one")
        }
        // The count is bounded by the bytes present before it is multiplied: a header that
        // claims more images than the file holds is a truncated file, not an overflow.
        let room = (file.size - PackedHeader.size) / shape.byteCount
        guard count <= UInt64(room), file.size == PackedHeader.size + Int(count) * shape.byteCount else {
            throw DataError(file: path, "has \(file.size) bytes, but its header says \(count) images of \(shape) "
                + "(\(PackedHeader.size) + \(count) x \(shape.byteCount) bytes): truncated or overwritten?")
        }
        header = PackedHeader(shape: shape, count: Int(count), checksum: UInt32(file.littleEndian(at: 32, width: 4)))
        if verifyChecksum {
            let actual = crc32(0, file.bytes + PackedHeader.size, count: header.count * shape.byteCount)
            guard actual == header.checksum else {
                throw DataError(file: path, "is corrupt: the images' CRC-32 is \(String(actual, radix: 16)), the header says \(String(header.checksum, radix: 16))")
            }
        }
    }

    /// Image `index`, in place in the mapping.
    @inline(__always)
    public func image(_ index: Int) -> UnsafePointer<UInt8> {
        file.bytes + PackedHeader.size + index * shape.byteCount
    }

    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        precondition(index >= 0 && index < count, "PackedDataset: image \(index) is outside 0..<\(count).")
        destination.update(from: image(index), count: shape.byteCount)
    }
}
