// Every published format, written small by the real libraries, read back: pixel values,
// order and counts, directly and after `prepare` into a packed file.
import Foundation
import XCTest
@testable import CQF

final class DatasetReaderTests: XCTestCase {
    /// Packs `source` and checks the packed file holds `expected`, in order.
    private func assertPrepared(_ source: ImageSource, equal expected: [[UInt8]], folder: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let path = "\(folder)/out.packed"
        let summary = try prepareDataset(source, to: path)
        XCTAssertEqual(summary.count, expected.count, file: file, line: line)
        let packed = try PackedDataset(path: path)
        XCTAssertEqual(packed.shape, source.shape, file: file, line: line)
        XCTAssertEqual(DataFixtures.images(of: packed), expected, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(path).tmp-\(getpid())"), file: file, line: line)
    }

    func testIdxPlainAndGzipPadTo32() throws {
        for gzip in [false, true] {
            let folder = try DataFixtures.temporaryFolder(self)
            try DataFixtures.writeIdx(folder: folder, prefix: "train", count: 5, gzip: gzip)
            try DataFixtures.writeIdx(folder: folder, prefix: "t10k", count: 3, gzip: gzip)
            let train = try openDataset(kind: .fashionMNIST, path: folder, split: .train)
            let test = try openDataset(kind: .mnist, path: folder, split: .test)
            XCTAssertEqual(train.count, 5)
            XCTAssertEqual(test.count, 3)
            XCTAssertEqual(train.shape, ImageShape(channels: 1, height: 32, width: 32))
            XCTAssertEqual(train.labels, [0, 1, 2, 3, 4])
            let images = DataFixtures.images(of: train)
            for i in 0..<5 {
                for y in 0..<32 {
                    for x in 0..<32 {
                        let inside = (2..<30).contains(y) && (2..<30).contains(x)
                        XCTAssertEqual(images[i][y * 32 + x], inside ? DataFixtures.pattern(i, 0, y - 2, x - 2) : 0)
                    }
                }
            }
            try assertPrepared(openImageSource(kind: .mnist, path: folder, split: .train), equal: images, folder: folder)
        }
    }

    func testCIFAR10BatchesInOrder() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try FileManager.default.createDirectory(atPath: "\(folder)/cifar-10-batches-bin", withIntermediateDirectories: true)
        for batch in 1...5 {
            try DataFixtures.writeCIFAR(path: "\(folder)/cifar-10-batches-bin/data_batch_\(batch).bin", first: (batch - 1) * 3, count: 3)
        }
        try DataFixtures.writeCIFAR(path: "\(folder)/cifar-10-batches-bin/test_batch.bin", first: 100, count: 2)
        let train = try openDataset(kind: .cifar10, path: folder, split: .train)
        XCTAssertEqual(train.count, 15)
        XCTAssertEqual(train.labels, (0..<15).map { $0 % 10 })
        let expected = (0..<15).map { DataFixtures.expected($0, channels: 3, side: 32) }
        XCTAssertEqual(DataFixtures.images(of: train), expected)
        let test = try openDataset(kind: .cifar10, path: folder, split: .test)
        XCTAssertEqual(DataFixtures.images(of: test), [100, 101].map { DataFixtures.expected($0, channels: 3, side: 32) })
        try assertPrepared(openImageSource(kind: .cifar10, path: folder, split: .train), equal: expected, folder: folder)
    }

    func testSTL10ColumnMajorTransposedAndResized() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeSTL(path: "\(folder)/unlabeled_X.bin", first: 0, count: 3)
        try DataFixtures.writeSTL(path: "\(folder)/train_X.bin", first: 3, count: 2)
        try DataFixtures.writeSTL(path: "\(folder)/test_X.bin", first: 10, count: 1)
        let train = try openDataset(kind: .stl10, path: folder, split: .train)
        let expected = (0..<3).map { DataFixtures.expected($0, channels: 3, side: 96) }
        XCTAssertEqual(train.count, 3)
        XCTAssertEqual(DataFixtures.images(of: train), expected)
        XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .stl10, path: folder, split: .test)),
                       [DataFixtures.expected(10, channels: 3, side: 96)])
        try assertPrepared(openImageSource(kind: .stl10, path: folder, split: .train), equal: expected, folder: folder)

        let halved = try openImageSource(kind: .stl10, path: folder, split: .test, size: 48)
        XCTAssertEqual(halved.shape, ImageShape(channels: 3, height: 48, width: 48))
    }

    func testImageNet64NPZStoredAndDeflated() throws {
        for compressed in [false, true] {
            let folder = try DataFixtures.temporaryFolder(self)
            try DataFixtures.writeImageNetNPZ(path: "\(folder)/train_data_batch_1.npz", first: 0, count: 3, side: 64, compressed: compressed)
            try DataFixtures.writeImageNetNPZ(path: "\(folder)/train_data_batch_2.npz", first: 3, count: 2, side: 64, compressed: compressed)
            try DataFixtures.writeImageNetNPZ(path: "\(folder)/val_data.npz", first: 50, count: 2, side: 64, compressed: compressed)
            let train = try openImageSource(kind: .imagenet64, path: folder, split: .train)
            XCTAssertEqual(train.shape, ImageShape(channels: 3, height: 64, width: 64))
            XCTAssertEqual(train.expectedCount, 5)
            var warnings: [String] = []
            let expected = (0..<5).map { DataFixtures.expected($0, channels: 3, side: 64) }
            XCTAssertEqual(try DataFixtures.images(of: train, warnings: &warnings), expected)
            let validation = try openImageSource(kind: .imagenet64, path: folder, split: .test)
            XCTAssertEqual(try DataFixtures.images(of: validation, warnings: &warnings), [50, 51].map { DataFixtures.expected($0, channels: 3, side: 64) })
            try assertPrepared(train, equal: expected, folder: folder)
            XCTAssertThrowsError(try openDataset(kind: .imagenet64, path: folder, split: .train)) {
                XCTAssertTrue("\($0)".contains("prepare"))
            }
        }
    }

    func testLSUNLmdbOfWebPAndJPEG() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let database = "\(folder)/bedroom_train_lmdb"
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        // WebP lossless 80x64: the center 64x64 crop at size 64 is an exact copy.
        let webps = (0..<3).map { DataFixtures.webp(DataFixtures.rgb($0, width: 80, height: 64), width: 80, height: 64) }
        let jpegPath = "\(folder)/flat.jpg"
        try DataFixtures.writeFlatJPEG(path: jpegPath, 3, width: 256, height: 300)
        try writeLMDB(folder: database, values: webps + [try DataFixtures.read(jpegPath)])
        let source = try openImageSource(kind: .lsun, path: database, split: .train)
        XCTAssertEqual(source.expectedCount, 4)
        XCTAssertEqual(source.shape, ImageShape(channels: 3, height: 64, width: 64))
        var warnings: [String] = []
        let images = try DataFixtures.images(of: source, warnings: &warnings)
        XCTAssertEqual(images.count, 4)
        XCTAssertEqual(warnings, [])
        for i in 0..<3 {
            var expected: [UInt8] = []
            for c in 0..<3 { for y in 0..<64 { for x in 0..<64 { expected.append(DataFixtures.pattern(i, c, y, x + 8)) } } }
            XCTAssertEqual(images[i], expected, "record \(i)")
        }
        let colour = DataFixtures.flatColour(3)
        for c in 0..<3 {
            XCTAssertTrue(images[3][c * 4096..<(c + 1) * 4096].allSatisfy { abs(Int($0) - Int(colour[c])) <= 3 })
        }
        try assertPrepared(source, equal: images, folder: folder)
        // The data.mdb file itself works too.
        XCTAssertEqual(try openImageSource(kind: .lsun, path: "\(database)/data.mdb", split: .train).expectedCount, 4)
    }

    func testFolderOfPNGAndJPEGSortedCroppedResized() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try FileManager.default.createDirectory(atPath: "\(folder)/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(folder)/b/c", withIntermediateDirectories: true)
        try writePNG(path: "\(folder)/a/2.png", pixels: DataFixtures.rgb(0, width: 40, height: 30), width: 40, height: 30, channels: 3)
        try writePNG(path: "\(folder)/a/1.PNG", pixels: DataFixtures.rgb(1, width: 30, height: 44), width: 30, height: 44, channels: 3)
        try DataFixtures.writeFlatJPEG(path: "\(folder)/b/c/3.jpg", 2, width: 178, height: 218)
        try DataFixtures.write(Array("not an image".utf8), to: "\(folder)/b/notes.txt")

        let source = try openImageSource(kind: .folder, path: folder, split: .train, size: 30)
        XCTAssertEqual(source.expectedCount, 3)
        var warnings: [String] = []
        let images = try DataFixtures.images(of: source, warnings: &warnings)
        XCTAssertEqual(images.count, 3)
        XCTAssertEqual(warnings, [])
        // Sorted paths: a/1.PNG, a/2.png, b/c/3.jpg. The 30x44 PNG's center crop starts at row 7,
        // the 40x30 one's at column 5; at size 30 both are exact copies.
        var first: [UInt8] = [], second: [UInt8] = []
        for c in 0..<3 { for y in 0..<30 { for x in 0..<30 {
            first.append(DataFixtures.pattern(1, c, y + 7, x))
            second.append(DataFixtures.pattern(0, c, y, x + 5))
        } } }
        XCTAssertEqual(images[0], first)
        XCTAssertEqual(images[1], second)
        let colour = DataFixtures.flatColour(2)
        for c in 0..<3 {
            XCTAssertTrue(images[2][c * 900..<(c + 1) * 900].allSatisfy { abs(Int($0) - Int(colour[c])) <= 3 })
        }
        try assertPrepared(source, equal: images, folder: folder)
    }

    /// CelebA's geometry: 178x218 JPEGs, center crop 178, resize to 96.
    func testCelebAStyleCropAndResize() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        for i in 0..<3 { try DataFixtures.writeFlatJPEG(path: "\(folder)/\(String(format: "%06d", i + 1)).jpg", i, width: 178, height: 218) }
        let source = try openImageSource(kind: .folder, path: folder, split: .train, size: 96, crop: 178)
        var warnings: [String] = []
        let images = try DataFixtures.images(of: source, warnings: &warnings)
        XCTAssertEqual(images.map(\.count), [27648, 27648, 27648])
        for (i, image) in images.enumerated() {
            let colour = DataFixtures.flatColour(i)
            for c in 0..<3 { XCTAssertTrue(image[c * 9216..<(c + 1) * 9216].allSatisfy { abs(Int($0) - Int(colour[c])) <= 3 }) }
        }
    }

    func testPackedFileRoundTripAndReprepare() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeIdx(folder: folder, prefix: "t10k", count: 4, gzip: true)
        let source = try openImageSource(kind: .mnist, path: folder, split: .test)
        _ = try prepareDataset(source, to: "\(folder)/a.packed")
        let packed = try openDataset(kind: .packed, path: "\(folder)/a.packed", split: .train)
        let again = try openImageSource(kind: .packed, path: "\(folder)/a.packed", split: .train)
        _ = try prepareDataset(again, to: "\(folder)/b.packed")
        XCTAssertEqual(try DataFixtures.read("\(folder)/a.packed"), try DataFixtures.read("\(folder)/b.packed"))
        XCTAssertEqual(try DataFixtures.read("\(folder)/a.packed").count, 64 + 4 * 1024)
        XCTAssertEqual(packed.count, 4)
    }
}
