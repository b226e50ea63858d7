// Damaged input gives one sentence naming the file, never a crash: truncated, wrong magic,
// wrong size and corrupt files are errors; in folders and LSUN an undecodable image or one
// smaller than the crop is a counted warning and the rest is read.
import Foundation
import XCTest
@testable import CQF

final class BadInputTests: XCTestCase {
    /// `body` throws a one-line DataError that names `file`.
    private func assertError(naming file: String, containing words: String? = nil, _ body: () throws -> Void,
                             sourceFile: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: sourceFile, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError, "not a DataError: \(text)", file: sourceFile, line: line)
            XCTAssertTrue(text.contains(file), "'\(text)' does not name \(file)", file: sourceFile, line: line)
            XCTAssertFalse(text.contains("\n"), "'\(text)' is not one line", file: sourceFile, line: line)
            if let words { XCTAssertTrue(text.contains(words), "'\(text)' does not say '\(words)'", file: sourceFile, line: line) }
        }
    }

    private func damage(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
        var bytes = try DataFixtures.read(path)
        change(&bytes)
        try DataFixtures.write(bytes, to: path)
    }

    func testIdxTruncatedWrongMagicAndCorruptGzip() throws {
        for gzip in [false, true] {
            let folder = try DataFixtures.temporaryFolder(self)
            try DataFixtures.writeIdx(folder: folder, prefix: "train", count: 4, gzip: gzip)
            let images = "\(folder)/train-images-idx3-ubyte\(gzip ? ".gz" : "")"
            let original = try DataFixtures.read(images)
            try damage(images) { $0.removeLast(100) }
            assertError(naming: images) { _ = try openDataset(kind: .mnist, path: folder, split: .train) }
            try DataFixtures.write(original, to: images)
            if gzip {
                try damage(images) { $0[$0.count / 2] ^= 0xFF }
            } else {
                try damage(images) { $0[3] = 0x01 }
            }
            assertError(naming: images) { _ = try openDataset(kind: .mnist, path: folder, split: .train) }
        }
        let empty = try DataFixtures.temporaryFolder(self)
        assertError(naming: empty, containing: "train-images-idx3-ubyte") { _ = try openDataset(kind: .fashionMNIST, path: empty, split: .train) }
    }

    /// Headers that claim sizes whose products overflow, or inflate past any dataset, are
    /// refused from the header, before anything is read or allocated for them.
    func testIdxHeaderThatLiesAboutItsSizes() throws {
        for gzip in [false, true] {
            let folder = try DataFixtures.temporaryFolder(self)
            try DataFixtures.writeIdx(folder: folder, prefix: "train", count: 4, gzip: false)
            let images = "\(folder)/train-images-idx3-ubyte"
            var bytes = try DataFixtures.read(images)
            bytes.replaceSubrange(4..<16, with: [UInt8](repeating: 0xFF, count: 12))  // 4294967295 images of 4294967295^2 pixels
            let path = images + (gzip ? ".gz" : "")
            if gzip {
                try FileManager.default.removeItem(atPath: images)
                try DataFixtures.writeGzip(bytes, to: path)
            } else {
                try DataFixtures.write(bytes, to: path)
            }
            assertError(naming: path, containing: "4294967295 images of 4294967295x4294967295") {
                _ = try openDataset(kind: .mnist, path: folder, split: .train)
            }
            // 60,000 images of 4096x4096 are 1 TB: more than the reader will inflate.
            bytes.replaceSubrange(4..<16, with: DataFixtures.bigEndian(60000) + DataFixtures.bigEndian(4096) + DataFixtures.bigEndian(4096))
            try gzip ? DataFixtures.writeGzip(bytes, to: path) : DataFixtures.write(bytes, to: path)
            assertError(naming: path, containing: "at most 2 GiB") { _ = try openDataset(kind: .mnist, path: folder, split: .train) }
        }
    }

    /// A PNG header declaring 100000x100000 pixels (30 GB decoded), with valid CRCs: refused
    /// from the header by the decoder, so the folder source counts it as an unreadable image.
    func testImageDeclaringAHugeSizeIsRefusedBeforeDecoding() throws {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return DataFixtures.bigEndian(data.count) + body + DataFixtures.bigEndian(Int(crc32(0, body, count: body.count)))
        }
        // libpng reads the header up to the first IDAT, whose data it never reaches here.
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", DataFixtures.bigEndian(100_000) + DataFixtures.bigEndian(100_000) + [8, 2, 0, 0, 0])
            + chunk("IDAT", []) + chunk("IEND", [])
        let decoder = ImageDecoder(size: 32, crop: nil)
        let output = UnsafeMutablePointer<UInt8>.allocate(capacity: 3 * 32 * 32)
        defer { output.deallocate() }
        XCTAssertThrowsError(try png.withUnsafeBytes { try decoder.decode($0, into: output) }) { error in
            XCTAssertTrue("\(error)".contains("declares 100000x100000 pixels"), "\(error)")
        }
    }

    /// A .npy shape with a negative dimension, or one whose element count overflows.
    func testNPYShapeThatNumpyCannotWriteIsRefused() {
        for shape in ["(2, -12288)", "(4294967296, 4294967296, 3)"] {
            var header = Array("{'descr': '|u1', 'fortran_order': False, 'shape': \(shape), }".utf8)
            header += [UInt8](repeating: 0x20, count: (64 - (10 + header.count + 1) % 64) % 64) + [0x0A]
            let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
            var offset = 0
            assertError(naming: "hostile.npy", containing: "shape") {
                _ = try NPYHeader(name: "hostile.npy") { destination, count in
                    guard offset + count <= bytes.count else { throw DataError(file: "hostile.npy", "is truncated") }
                    destination.update(from: Array(bytes[offset..<offset + count]), count: count)
                    offset += count
                }
            }
        }
    }

    func testCIFARAndSTLWrongSize() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeCIFAR(path: "\(folder)/test_batch.bin", first: 0, count: 2)
        try damage("\(folder)/test_batch.bin") { $0.removeLast() }
        assertError(naming: "\(folder)/test_batch.bin", containing: "3073") { _ = try openDataset(kind: .cifar10, path: folder, split: .test) }
        assertError(naming: "data_batch_1.bin") { _ = try openDataset(kind: .cifar10, path: folder, split: .train) }
        try DataFixtures.writeSTL(path: "\(folder)/test_X.bin", first: 0, count: 1)
        try damage("\(folder)/test_X.bin") { $0 += [0, 0] }
        assertError(naming: "\(folder)/test_X.bin", containing: "27,648") { _ = try openDataset(kind: .stl10, path: folder, split: .test) }
    }

    func testPackedTruncatedWrongMagicAndCorrupt() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeIdx(folder: folder, prefix: "t10k", count: 3, gzip: false)
        let path = "\(folder)/x.packed"
        _ = try prepareDataset(openImageSource(kind: .mnist, path: folder, split: .test), to: path)
        let original = try DataFixtures.read(path)
        try damage(path) { $0.removeLast(10) }
        assertError(naming: path, containing: "has 3126 bytes, but its header says 3 images") { _ = try PackedDataset(path: path) }
        // Counts that lie: all ones, and one whose byte size is near Int.max.
        for count in [UInt64.max, UInt64(Int.max / 1024)] {
            try DataFixtures.write(original, to: path)
            try damage(path) { bytes in (0..<8).forEach { bytes[24 + $0] = UInt8(truncatingIfNeeded: count >> (8 * UInt64($0))) } }
            assertError(naming: path, containing: "header says \(count) images") { _ = try PackedDataset(path: path) }
        }
        // No images (and the CRC-32 of none), of a claimed size (3 x 65536 x 21505 bytes) that a
        // reader would allocate: the input libFuzzer found.
        try DataFixtures.write(Array(original[..<PackedHeader.size]), to: path)
        try damage(path) { bytes in
            (24..<36).forEach { bytes[$0] = 0 }
            bytes.replaceSubrange(12..<24, with: [3, 0, 0, 0, 0, 0, 1, 0, 1, 84, 0, 0])
        }
        assertError(naming: path, containing: "holds no images") { _ = try PackedDataset(path: path) }
        try DataFixtures.write(original, to: path)
        try damage(path) { $0[0] = UInt8(ascii: "X") }
        assertError(naming: path, containing: "CQFIMAGE") { _ = try PackedDataset(path: path) }
        try DataFixtures.write(original, to: path)
        try damage(path) { $0[1000] ^= 0x40 }
        assertError(naming: path, containing: "corrupt") { _ = try openDataset(kind: .packed, path: path, split: .train) }
        try DataFixtures.write(Array(original[..<20]), to: path)
        assertError(naming: path, containing: "too short") { _ = try PackedDataset(path: path) }
        assertError(naming: "\(folder)/missing.packed") { _ = try PackedDataset(path: "\(folder)/missing.packed") }
    }

    func testNPZTruncatedCorruptAndWrongArray() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let path = "\(folder)/val_data.npz"
        for compressed in [false, true] {
            try DataFixtures.writeImageNetNPZ(path: path, first: 0, count: 2, side: 8, compressed: compressed)
            let original = try DataFixtures.read(path)
            try damage(path) { $0[$0.count / 3] ^= 0x55 }
            assertError(naming: path) {
                var warnings: [String] = []
                _ = try DataFixtures.images(of: openImageSource(kind: .imagenet64, path: folder, split: .test), warnings: &warnings)
            }
            try DataFixtures.write(Array(original[..<(original.count - 30)]), to: path)
            assertError(naming: path) { _ = try openImageSource(kind: .imagenet64, path: folder, split: .test) }
        }
        try runPython("import numpy as np; np.savez('\(path)', data=np.zeros((2, 100), np.float32))")
        assertError(naming: path, containing: "uint8") { _ = try openImageSource(kind: .imagenet64, path: folder, split: .test) }
        try DataFixtures.write(Array("PK not really".utf8), to: path)
        assertError(naming: path, containing: "zip") { _ = try openImageSource(kind: .imagenet64, path: folder, split: .test) }
    }

    func testZipFieldsThatLieAreRefusedNotTrusted() throws {
        let path = "\(try DataFixtures.temporaryFolder(self))/lies.npz"
        // One stored member whose zip64 extra field gives sizes and a local-header offset near
        // 2^64: summed with anything, they would overflow.
        func archive(zip64Values: [UInt64], extraLength: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            func put(_ value: UInt64, _ width: Int) { (0..<width).forEach { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64($0)))) } }
            let name = Array("data.npy".utf8)
            put(0x0201_4b50, 4); put(45, 2); put(45, 2); put(0, 2); put(0, 2); put(0, 4); put(0, 4)
            put(0xFFFF_FFFF, 4); put(0xFFFF_FFFF, 4)
            put(UInt64(name.count), 2); put(UInt64(4 + extraLength), 2); put(0, 2); put(0, 2); put(0, 2); put(0, 4)
            put(0xFFFF_FFFF, 4)
            bytes += name
            put(1, 2); put(UInt64(extraLength), 2)
            zip64Values.forEach { put($0, 8) }
            let directorySize = bytes.count
            put(0x0605_4b50, 4); put(0, 2); put(0, 2); put(1, 2); put(1, 2); put(UInt64(directorySize), 4); put(0, 4); put(0, 2)
            return bytes
        }
        try DataFixtures.write(archive(zip64Values: [UInt64.max, UInt64.max, UInt64(Int.max)], extraLength: 24), to: path)
        let zip = try ZipArchive(path: path)
        XCTAssertEqual(zip.members.map(\.size), [Int.max], "sizes beyond Int.max are clamped, not trapped on")
        assertError(naming: path, containing: "damaged") { _ = try zip.reader(for: zip.members[0]) }
        // An extra field that says it holds three sizes but ends after one.
        try DataFixtures.write(archive(zip64Values: [8], extraLength: 8), to: path)
        assertError(naming: path, containing: "zip64 extra field too short") { _ = try ZipArchive(path: path) }
    }

    func testLSUNNotAnLmdbAndUndecodableRecordsAreWarnings() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.write([UInt8](repeating: 7, count: 8192), to: "\(folder)/data.mdb")
        assertError(naming: folder, containing: "lmdb") { _ = try openImageSource(kind: .lsun, path: folder, split: .train) }

        let database = try DataFixtures.temporaryFolder(self)
        let good = DataFixtures.webp(DataFixtures.rgb(0, width: 64, height: 64), width: 64, height: 64)
        try writeLMDB(folder: database, values: [good, Array(good[..<40]), Array("garbage bytes here".utf8), good])
        var warnings: [String] = []
        let images = try DataFixtures.images(of: openImageSource(kind: .lsun, path: database, split: .train), warnings: &warnings)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(warnings.count, 2)
        XCTAssertTrue(warnings.allSatisfy { $0.contains(database) && !$0.contains("\n") })
        XCTAssertTrue(warnings[0].contains("record 00000001"), warnings[0])
    }

    func testFolderEmptyUndecodableAndTooSmall() throws {
        let empty = try DataFixtures.temporaryFolder(self)
        try DataFixtures.write([1, 2, 3], to: "\(empty)/readme.txt")
        assertError(naming: empty, containing: "found none") { _ = try openImageSource(kind: .folder, path: empty, split: .train) }
        assertError(naming: "\(empty)/nothing") { _ = try openImageSource(kind: .folder, path: "\(empty)/nothing", split: .train) }

        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeFlatJPEG(path: "\(folder)/1.jpg", 1, width: 120, height: 120)
        try DataFixtures.writeFlatJPEG(path: "\(folder)/2.jpg", 2, width: 120, height: 120)
        try damage("\(folder)/2.jpg") { $0.removeLast($0.count / 2) }
        try DataFixtures.write(Array("this is not a png".utf8), to: "\(folder)/3.png")
        try DataFixtures.writeFlatJPEG(path: "\(folder)/4.jpg", 4, width: 60, height: 200)
        try writePNG(path: "\(folder)/5.png", pixels: DataFixtures.rgb(5, width: 100, height: 100), width: 100, height: 100, channels: 3)
        // A 300 MiB file (sparse: it takes no disk) is refused before it is read.
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(folder)/6.png", contents: nil))
        XCTAssertEqual(truncate("\(folder)/6.png", 300 << 20), 0)
        var warnings: [String] = []
        let source = try openImageSource(kind: .folder, path: folder, split: .train, size: 32, crop: 100)
        let images = try DataFixtures.images(of: source, warnings: &warnings)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(warnings.count, 4)
        XCTAssertTrue(warnings[0].hasPrefix("\(folder)/2.jpg: is not a decodable JPEG"), warnings[0])
        XCTAssertTrue(warnings[1].hasPrefix("\(folder)/3.png: is neither"), warnings[1])
        XCTAssertTrue(warnings[2].hasPrefix("\(folder)/4.jpg: is 60x200, smaller than the 100x100 crop"), warnings[2])
        XCTAssertTrue(warnings[3].hasPrefix("\(folder)/6.png: is 314572800 bytes, more than the 256 MiB"), warnings[3])

        // Nothing readable at all: prepare refuses and leaves no file behind.
        let hopeless = try DataFixtures.temporaryFolder(self)
        try DataFixtures.write(Array("nope".utf8), to: "\(hopeless)/a.jpg")
        assertError(naming: "\(hopeless)/out.packed", containing: "no image") {
            _ = try prepareDataset(openImageSource(kind: .folder, path: hopeless, split: .train), to: "\(hopeless)/out.packed")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: hopeless), ["a.jpg"])
    }

    func testCropLargerThanAFixedSizeDataset() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeCIFAR(path: "\(folder)/test_batch.bin", first: 0, count: 1)
        XCTAssertThrowsError(try openImageSource(kind: .cifar10, path: folder, split: .test, crop: 40)) {
            XCTAssertTrue("\($0)".contains("--crop 40 is larger than the 32x32 images"))
        }
    }
}
