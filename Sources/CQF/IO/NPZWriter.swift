// Writes numpy `.npz` files: a zip archive, stored (uncompressed), of `.npy` uint8 or float64
// arrays. Samples go out this way as `arr_0`, uint8 NHWC, the format FID/IS tools read
// (`numpy.load(path)["arr_0"]`), and feature statistics as float64 `mu` and `sigma`, the format
// of pytorch-fid's statistics files. Written under a temporary name and renamed when complete.
import Foundation

/// One array to write: its member name without ".npy", its numpy dtype, its shape and its
/// bytes (C order, little-endian).
public struct NPZArray {
    public let name: String
    /// "|u1" or "<f8".
    public let descr: String
    public let shape: [Int]
    public let bytes: [UInt8]

    /// A uint8 array.
    public init(name: String, shape: [Int], bytes: [UInt8]) {
        self.init(name: name, descr: "|u1", shape: shape, valueCount: bytes.count, bytes: bytes)
    }

    /// A float64 array.
    public init(name: String, shape: [Int], values: [Double]) {
        self.init(name: name, descr: "<f8", shape: shape, valueCount: values.count,
                  bytes: values.map(\.bitPattern.littleEndian).withUnsafeBytes { Array($0) })
    }

    private init(name: String, descr: String, shape: [Int], valueCount: Int, bytes: [UInt8]) {
        precondition(shape.reduce(1, *) == valueCount,
                     "NPZArray \(name): the shape \(shape) holds \(shape.reduce(1, *)) values, got \(valueCount).")
        self.name = name
        self.descr = descr
        self.shape = shape
        self.bytes = bytes
    }
}

/// Writes `arrays` as members `<name>.npy` of the `.npz` file at `path`.
public func writeNPZ(path: String, arrays: [NPZArray]) throws {
    let writer = try NPZWriter(path: path)
    do {
        for array in arrays {
            try writer.begin(name: array.name, descr: array.descr, shape: array.shape)
            try writer.append(array.bytes)
        }
        try writer.finish()
    } catch {
        writer.abandon()
        throw error
    }
}

/// An `.npz` written array by array and each array in pieces, so that its size need not fit
/// in memory (`sample --count N`): each member's local header is written with its size (known
/// from the shape) and its CRC-32 patched in when the member is complete. The file appears
/// under its name only when `finish` succeeds; `abandon` removes the partial file.
public final class NPZWriter {
    private let path: String
    private let temporaryPath: String
    private let file: FileHandle
    private var offset = 0
    private var directory: [UInt8] = []
    private var members = 0
    /// The member being written: where its local header starts, its name, its size, its
    /// CRC-32 so far and the data bytes still expected.
    private var member: (headerOffset: Int, name: [UInt8], size: Int, crc: UInt32, remaining: Int)?

    public init(path: String) throws {
        self.path = path
        temporaryPath = "\(path).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil),
              let file = FileHandle(forWritingAtPath: temporaryPath) else {
            throw DataError(file: temporaryPath, "cannot be created")
        }
        self.file = file
    }

    /// Starts member `<name>.npy` holding `shape` values of `descr` ("|u1" or "<f8").
    public func begin(name: String, descr: String, shape: [Int]) throws {
        try closeMember()
        let header = npyHeader(descr: descr, shape: shape)
        let dataBytes = shape.reduce(1, *) * (descr == "<f8" ? 8 : 1)
        let size = header.count + dataBytes
        guard size < Int(UInt32.max), offset < Int(UInt32.max) else {
            throw DataError(file: path, "would pass 4 GiB, more than a zip without zip64 holds; expected smaller arrays")
        }
        let memberName = Array("\(name).npy".utf8)
        let local = u32(0x0403_4b50) + zipFields(crc: 0, size: size, nameLength: memberName.count) + memberName
        try write(local + header)
        let crc = header.withUnsafeBufferPointer { crc32(0, $0.baseAddress!, count: $0.count) }
        member = (offset, memberName, size, crc, dataBytes)
        offset += local.count + header.count
    }

    /// The next bytes of the member begun last.
    public func append(_ bytes: [UInt8]) throws {
        guard var current = member, bytes.count <= current.remaining else {
            preconditionFailure("NPZWriter: \(bytes.count) bytes appended beyond the member's shape")
        }
        guard !bytes.isEmpty else { return }
        try write(bytes)
        current.crc = bytes.withUnsafeBufferPointer { crc32(current.crc, $0.baseAddress!, count: $0.count) }
        current.remaining -= bytes.count
        member = current
        offset += bytes.count
    }

    /// Writes the central directory and gives the file its name.
    public func finish() throws {
        try closeMember()
        let end = u32(0x0605_4b50) + u32(0)
            + u16(members) + u16(members)
            + u32(directory.count) + u32(offset) + u16(0)
        try write(directory + end)
        do {
            try file.synchronize()
            try file.close()
        } catch {
            throw DataError(file: temporaryPath, "cannot be written (\(error.localizedDescription))")
        }
        guard rename(temporaryPath, path) == 0 else {
            unlink(temporaryPath)
            throw DataError(file: path, "cannot be created by renaming \(temporaryPath) (\(String(cString: strerror(errno))))")
        }
    }

    /// Removes the partial file after a failure.
    public func abandon() {
        try? file.close()
        unlink(temporaryPath)
    }

    /// Patches the open member's CRC into its local header and adds its central entry.
    private func closeMember() throws {
        guard let member else { return }
        precondition(member.remaining == 0, "NPZWriter: a member ended \(member.remaining) bytes short of its shape")
        let common = zipFields(crc: member.crc, size: member.size, nameLength: member.name.count)
        do {
            try file.seek(toOffset: UInt64(member.headerOffset + 14))
            try file.write(contentsOf: littleEndianBytes(member.crc))
            try file.seekToEnd()
        } catch {
            throw DataError(file: temporaryPath, "cannot be written (\(error.localizedDescription))")
        }
        // Central entry: version made by, the shared fields, then comment length, disk,
        // internal and external attributes (all zero) and the local header's offset.
        directory += u32(0x0201_4b50) + u16(20) + common
            + u16(0) + u16(0) + u16(0) + u32(0)
            + u32(member.headerOffset) + member.name
        members += 1
        self.member = nil
    }

    private func write(_ bytes: [UInt8]) throws {
        do {
            try file.write(contentsOf: bytes)
        } catch {
            throw DataError(file: temporaryPath, "cannot be written (\(error.localizedDescription))")
        }
    }
}

/// `.npy` version 1.0 header for `descr` in C order, padded with spaces to a multiple of 64 bytes.
private func npyHeader(descr: String, shape: [Int]) -> [UInt8] {
    let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dimensions), }"
    while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
    dict += "\n"
    return [0x93] + Array("NUMPY".utf8) + [1, 0] + u16(dict.utf8.count) + Array(dict.utf8)
}

/// The fields local and central headers share, from "version needed" to "extra length":
/// stored, no flags, dated 1980-01-01.
private func zipFields(crc: UInt32, size: Int, nameLength: Int) -> [UInt8] {
    u16(20) + u16(0) + u16(0) + u16(0) + u16(0x21)
        + littleEndianBytes(crc) + u32(size) + u32(size)
        + u16(nameLength) + u16(0)
}

/// The 2- and 4-byte little-endian fields of zip and .npy headers (values beyond them truncated;
/// the writer refuses sizes past 4 GiB first).
private func u16(_ value: Int) -> [UInt8] { littleEndianBytes(UInt16(truncatingIfNeeded: value)) }
private func u32(_ value: Int) -> [UInt8] { littleEndianBytes(UInt32(truncatingIfNeeded: value)) }
