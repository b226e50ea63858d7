// Reads members of a zip archive (what numpy's `.npz` is), memory-mapped, stored or deflated,
// zip64 included (numpy writes every member with zip64 sizes). A member is read as a stream:
// `ZipMemberReader.read` fills the caller's buffer, inflating through zlib as it goes, so a
// 1.5 GB `data.npy` inside an ImageNet batch never has to sit in memory whole; its CRC-32 is
// checked when the member has been read to its end.
import CImageCodecs
import Foundation

/// One member as the central directory describes it.
public struct ZipMember: Sendable {
    public let name: String
    /// 0 stored, 8 deflated.
    public let method: Int
    public let compressedSize: Int
    public let size: Int
    public let crc: UInt32
    let localHeaderOffset: Int
}

/// The central directory of a zip file.
public final class ZipArchive: @unchecked Sendable {
    public let file: MappedFile
    public let members: [ZipMember]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        members = try ZipArchive.centralDirectory(file)
    }

    public func member(named name: String) throws -> ZipMember {
        guard let member = members.first(where: { $0.name == name }) else {
            throw DataError(file: file.path, "expected a member \(name), found \(members.map(\.name).joined(separator: ", "))")
        }
        return member
    }

    /// A reader positioned at the start of `member`.
    public func reader(for member: ZipMember) throws -> ZipMemberReader {
        try ZipMemberReader(archive: self, member: member)
    }

    /// Every offset and size read from the file is compared with the file's size by
    /// subtraction (fields are clamped to Int.max, never trusted to add without overflow), and
    /// only read where the bytes are known to be inside the file.
    private static func centralDirectory(_ file: MappedFile) throws -> [ZipMember] {
        func field(_ offset: Int, _ width: Int) -> Int { Int(clamping: file.littleEndian(at: offset, width: width)) }
        let notZip = DataError(file: file.path, "expected a zip archive (an .npz), found no end-of-central-directory record (truncated or not a zip file)")
        guard file.size >= 22 else { throw notZip }
        var end = file.size - 22
        let lowest = max(0, file.size - 22 - 65535)
        while end >= lowest && field(end, 4) != 0x0605_4b50 { end -= 1 }
        guard end >= lowest else { throw notZip }
        var entries = field(end + 10, 2)
        var directory = field(end + 16, 4)
        let locator = end - 20
        if locator >= 0 && field(locator, 4) == 0x0706_4b50 {
            let zip64End = field(locator + 8, 8)
            guard zip64End <= file.size - 56, field(zip64End, 4) == 0x0606_4b50 else {
                throw DataError(file: file.path, "has a damaged zip64 end record")
            }
            entries = field(zip64End + 32, 8)
            directory = field(zip64End + 48, 8)
        }
        var members: [ZipMember] = []
        var offset = directory
        for _ in 0..<entries {
            guard offset <= file.size - 46, field(offset, 4) == 0x0201_4b50 else {
                throw DataError(file: file.path, "has a damaged zip central directory (truncated or corrupt)")
            }
            let nameLength = field(offset + 28, 2), extraLength = field(offset + 30, 2), commentLength = field(offset + 32, 2)
            guard offset + 46 + nameLength + extraLength <= file.size else {
                throw DataError(file: file.path, "has a damaged zip central directory (truncated or corrupt)")
            }
            var size = field(offset + 24, 4), compressed = field(offset + 20, 4), local = field(offset + 42, 4)
            // Zip64 extra field: the 64-bit values of whichever fields are 0xFFFFFFFF, in this order.
            var extra = offset + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = field(extra, 2), length = field(extra + 2, 2)
                let valuesEnd = extra + 4 + length
                guard valuesEnd <= extraEnd else {
                    throw DataError(file: file.path, "has a damaged zip extra field (it runs past its entry)")
                }
                if tag == 1 {
                    var value = extra + 4
                    func next() throws -> Int {
                        guard value + 8 <= valuesEnd else { throw DataError(file: file.path, "has a zip64 extra field too short for its sizes") }
                        defer { value += 8 }
                        return field(value, 8)
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                extra = valuesEnd
            }
            let name = String(decoding: UnsafeBufferPointer(start: file.bytes + offset + 46, count: nameLength), as: UTF8.self)
            members.append(ZipMember(name: name, method: field(offset + 10, 2), compressedSize: compressed, size: size,
                                     crc: UInt32(field(offset + 16, 4)), localHeaderOffset: local))
            offset += 46 + nameLength + extraLength + commentLength
        }
        return members
    }
}

/// Reads one member's bytes in order.
public final class ZipMemberReader {
    public let member: ZipMember
    public private(set) var position = 0
    private let archive: ZipArchive
    private let data: UnsafePointer<UInt8>
    private var stream = z_stream()
    private var consumed = 0
    private var crc: UInt32 = 0

    init(archive: ZipArchive, member: ZipMember) throws {
        self.archive = archive
        self.member = member
        let file = archive.file
        let local = member.localHeaderOffset
        let problem = "member \(member.name) is damaged (truncated or corrupt)"
        // Subtractions, not sums: the offsets and sizes come from the file, up to Int.max.
        guard local <= file.size - 30, file.littleEndian(at: local, width: 4) == 0x0403_4b50 else {
            throw DataError(file: file.path, problem)
        }
        let start = local + 30 + Int(file.littleEndian(at: local + 26, width: 2)) + Int(file.littleEndian(at: local + 28, width: 2))
        guard member.compressedSize <= file.size - start else { throw DataError(file: file.path, problem) }
        data = file.bytes + start
        switch member.method {
        case 0:
            guard member.compressedSize == member.size else { throw DataError(file: file.path, problem) }
        case 8:
            guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw DataError(file: file.path, "cannot start zlib to inflate member \(member.name)")
            }
        default:
            throw DataError(file: file.path, "member \(member.name) uses zip compression method \(member.method); expected stored (0) or deflated (8)")
        }
    }

    deinit {
        if member.method == 8 { inflateEnd(&stream) }
    }

    /// Fills `count` bytes of `destination` with the member's next bytes; throws when the
    /// member ends first or its data is corrupt.
    public func read(into destination: UnsafeMutablePointer<UInt8>, count: Int) throws {
        let path = archive.file.path
        guard position + count <= member.size else {
            throw DataError(file: path, "member \(member.name) ends at byte \(member.size), expected at least \(position + count)")
        }
        if member.method == 0 {
            destination.update(from: data + position, count: count)
        } else {
            var produced = 0
            while produced < count {
                stream.next_in = UnsafeMutablePointer(mutating: data + consumed)
                stream.avail_in = UInt32(min(member.compressedSize - consumed, 1 << 30))
                stream.next_out = destination + produced
                stream.avail_out = UInt32(min(count - produced, 1 << 30))
                let before = (stream.avail_in, stream.avail_out)
                let status = inflate(&stream, Z_NO_FLUSH)
                consumed += Int(before.0 - stream.avail_in)
                produced += Int(before.1 - stream.avail_out)
                guard status == Z_OK || (status == Z_STREAM_END && produced == count) || (status == Z_BUF_ERROR && produced == count) else {
                    throw DataError(file: path, "member \(member.name) does not inflate (zlib status \(status)): the file is corrupt or truncated")
                }
            }
        }
        crc = crc32(crc, destination, count: count)
        position += count
        if position == member.size && crc != member.crc {
            throw DataError(file: path, "member \(member.name) is corrupt: its CRC-32 is \(String(crc, radix: 16)), the archive says \(String(member.crc, radix: 16))")
        }
    }
}
