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
    let temporaryPath = "\(path).tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporaryPath, contents: nil),
          let file = FileHandle(forWritingAtPath: temporaryPath) else {
        throw DataError(file: temporaryPath, "cannot be created")
    }
    var offset = 0
    var directory: [UInt8] = []
    do {
        for array in arrays {
            let npyHeader = npyHeader(descr: array.descr, shape: array.shape)
            let size = npyHeader.count + array.bytes.count
            guard size < Int(UInt32.max), offset < Int(UInt32.max) else {
                throw DataError(file: path, "would pass 4 GiB, more than a zip without zip64 holds; expected smaller arrays")
            }
            var crc = npyHeader.withUnsafeBufferPointer { crc32(0, $0.baseAddress!, count: $0.count) }
            crc = array.bytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress!, count: $0.count) }
            let name = Array("\(array.name).npy".utf8)
            let common = zipFields(crc: crc, size: size, nameLength: name.count)
            let local = littleEndian(0x0403_4b50, 4) + common + name
            // Central entry: version made by, the shared fields, then comment length, disk,
            // internal and external attributes (all zero) and the local header's offset.
            directory += littleEndian(0x0201_4b50, 4) + littleEndian(20, 2) + common
                + littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0, 4)
                + littleEndian(UInt64(offset), 4) + name
            try file.write(contentsOf: local + npyHeader)
            try file.write(contentsOf: array.bytes)
            offset += local.count + size
        }
        let end = littleEndian(0x0605_4b50, 4) + littleEndian(0, 4)
            + littleEndian(UInt64(arrays.count), 2) + littleEndian(UInt64(arrays.count), 2)
            + littleEndian(UInt64(directory.count), 4) + littleEndian(UInt64(offset), 4) + littleEndian(0, 2)
        try file.write(contentsOf: directory + end)
        try file.synchronize()
        try file.close()
    } catch {
        try? file.close()
        unlink(temporaryPath)
        throw error as? DataError ?? DataError(file: temporaryPath, "cannot be written (\(error.localizedDescription))")
    }
    guard rename(temporaryPath, path) == 0 else {
        unlink(temporaryPath)
        throw DataError(file: path, "cannot be created by renaming \(temporaryPath) (\(String(cString: strerror(errno))))")
    }
}

/// `.npy` version 1.0 header for `descr` in C order, padded with spaces to a multiple of 64 bytes.
private func npyHeader(descr: String, shape: [Int]) -> [UInt8] {
    let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
    var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dimensions), }"
    while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
    dict += "\n"
    return [0x93] + Array("NUMPY".utf8) + [1, 0] + littleEndian(UInt64(dict.utf8.count), 2) + Array(dict.utf8)
}

/// The fields local and central headers share, from "version needed" to "extra length":
/// stored, no flags, dated 1980-01-01.
private func zipFields(crc: UInt32, size: Int, nameLength: Int) -> [UInt8] {
    littleEndian(20, 2) + littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0, 2) + littleEndian(0x21, 2)
        + littleEndian(UInt64(crc), 4) + littleEndian(UInt64(size), 4) + littleEndian(UInt64(size), 4)
        + littleEndian(UInt64(nameLength), 2) + littleEndian(0, 2)
}

private func littleEndian(_ value: UInt64, _ width: Int) -> [UInt8] {
    (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
}
