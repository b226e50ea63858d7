// Splits as the publishers ship them: CelebA's list_eval_partition.txt beside
// img_align_celeba/, any folder split by a `--split-file` list (and its errors, one line naming
// the file and line), STL-10's unlabeled / labelled / test files, LSUN's train and val
// databases, and packed splits found beside one another by name.
import Foundation
import XCTest
@testable import CQF

final class DatasetSplitTests: XCTestCase {
    /// 8x8 PNGs with the pattern of image i: read at size 8 they are exact copies.
    private func writeImages(_ names: [String], in folder: String) throws {
        for (i, name) in names.enumerated() {
            let path = "\(folder)/\(name)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writePNG(path: path, pixels: DataFixtures.rgb(i, width: 8, height: 8), width: 8, height: 8, channels: 3)
        }
    }

    private func images(_ split: Split, folder: String, splitFile: String? = nil) throws -> [[UInt8]] {
        var warnings: [String] = []
        let source = try openImageSource(kind: .folder, path: folder, split: split, splitFile: splitFile, size: 8)
        let images = try DataFixtures.images(of: source, warnings: &warnings)
        XCTAssertEqual(warnings, [])
        return images
    }

    private func expected(_ indices: [Int]) -> [[UInt8]] {
        indices.map { DataFixtures.expected($0, channels: 3, side: 8) }
    }

    /// `body` throws a one-line DataError that says every one of `words`.
    private func assertError(saying words: [String], _ body: () throws -> Void, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError, "not a DataError: \(text)", line: line)
            XCTAssertFalse(text.contains("\n"), "'\(text)' is not one line", line: line)
            for word in words { XCTAssertTrue(text.contains(word), "'\(text)' does not say '\(word)'", line: line) }
        }
    }

    func testCelebAPartitionFileBesideTheFolderGivesTheThreeSets() throws {
        let celeba = try DataFixtures.temporaryFolder(self)
        let folder = "\(celeba)/img_align_celeba"
        try writeImages((1...7).map { String(format: "%06d.png", $0) }, in: folder)
        // CelebA's own form: `NAME.jpg 0|1|2`, here naming PNGs so that pixels compare exactly.
        let partition = ["000001.png 0", "000002.png 0", "000003.png 1", "000004.png 2", "000005.png 0", "000006.png 2", "000007.png 1"]
        try partition.joined(separator: "\r\n").appending("\r\n").write(toFile: "\(celeba)/list_eval_partition.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try images(.train, folder: folder), expected([0, 1, 4]))
        XCTAssertEqual(try images(.validation, folder: folder), expected([2, 6]))
        XCTAssertEqual(try images(.test, folder: folder), expected([3, 5]))

        // The same file inside the folder works as well.
        try FileManager.default.moveItem(atPath: "\(celeba)/list_eval_partition.txt", toPath: "\(folder)/list_eval_partition.txt")
        XCTAssertEqual(try images(.test, folder: folder), expected([3, 5]))
    }

    func testSplitFileSplitsAnyFolderByRelativePath() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try writeImages(["a/x.png", "b/my photo.png", "c.png", "d.png"], in: folder)
        let list = "\(try DataFixtures.temporaryFolder(self))/splits.txt"
        // d.png is listed nowhere and so belongs to no split; names may hold spaces.
        try "a/x.png test\nb/my photo.png train\n\nc.png validation\n".write(toFile: list, atomically: true, encoding: .utf8)
        XCTAssertEqual(try images(.train, folder: folder, splitFile: list), expected([1]))
        XCTAssertEqual(try images(.validation, folder: folder, splitFile: list), expected([2]))
        XCTAssertEqual(try images(.test, folder: folder, splitFile: list), expected([0]))
        // A folder without any list is one set, read whole as the train split only.
        XCTAssertEqual(try images(.train, folder: folder), expected([0, 1, 2, 3]))
        assertError(saying: [folder, "no split list", "--split train"]) { _ = try self.images(.test, folder: folder) }
    }

    func testSplitFileErrorsNameTheFileAndTheLine() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try writeImages(["000001.jpg", "000002.jpg"], in: folder)
        let list = "\(try DataFixtures.temporaryFolder(self))/list.txt"
        let cases: [(text: String, words: [String])] = [
            ("000001.jpg 0\n000003.jpg 2\n", ["\(list):2", "000003.jpg", "not an image in \(folder)"]),
            ("000001.jpg 0\n000002.jpg\n", ["\(list):2", "expected `NAME SPLIT`", "'000002.jpg'"]),
            ("000001.jpg 3\n", ["\(list):1", "SPLIT 0, 1, 2, train, validation or test", "'000001.jpg 3'"]),
            ("000001.jpg 0\n000002.jpg 1\n000001.jpg 2\n", ["\(list):3", "000001.jpg is listed again (first on line 1)"]),
            ("\n\n", [list, "lists no image"]),
            ("000001.jpg 1\n000002.jpg 1\n", [list, "no image", "train split"]),
        ]
        for (text, words) in cases {
            try text.write(toFile: list, atomically: true, encoding: .utf8)
            assertError(saying: words) { _ = try self.images(.train, folder: folder, splitFile: list) }
        }
        assertError(saying: ["\(folder)/missing.txt", "cannot be read"]) {
            _ = try self.images(.train, folder: folder, splitFile: "\(folder)/missing.txt")
        }
        assertError(saying: [list, "--dataset folder", "cifar10"]) {
            _ = try openImageSource(kind: .cifar10, path: folder, split: .train, splitFile: list)
        }
    }

    func testSTL10TrainsOnTheUnlabeledFileAndTestsOnTheTestFile() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try FileManager.default.createDirectory(atPath: "\(folder)/stl10_binary", withIntermediateDirectories: true)
        try DataFixtures.writeSTL(path: "\(folder)/stl10_binary/unlabeled_X.bin", first: 0, count: 3)
        try DataFixtures.writeSTL(path: "\(folder)/stl10_binary/train_X.bin", first: 3, count: 2)
        try DataFixtures.writeSTL(path: "\(folder)/stl10_binary/test_X.bin", first: 10, count: 1)
        let side = { (indices: [Int]) in indices.map { DataFixtures.expected($0, channels: 3, side: 96) } }
        XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .stl10, path: folder, split: .train)), side([0, 1, 2]))
        XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .stl10, path: folder, split: .labelled)), side([3, 4]))
        XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .stl10, path: folder, split: .test)), side([10]))
        assertError(saying: ["--split validation", "stl10", "train, labelled, test"]) {
            _ = try openDataset(kind: .stl10, path: folder, split: .validation)
        }
        try FileManager.default.removeItem(atPath: "\(folder)/stl10_binary/unlabeled_X.bin")
        assertError(saying: ["\(folder)/stl10_binary", "unlabeled_X.bin", "train split"]) {
            _ = try openDataset(kind: .stl10, path: folder, split: .train)
        }
    }

    func testKindsRefuseSplitsTheyDoNotHave() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeCIFAR(path: "\(folder)/test_batch.bin", first: 0, count: 1)
        assertError(saying: ["--split validation", "cifar10 has no such split", "train, test"]) {
            _ = try openDataset(kind: .cifar10, path: folder, split: .validation)
        }
        assertError(saying: ["--split labelled", "mnist"]) { _ = try openImageSource(kind: .mnist, path: folder, split: .labelled) }
        // LSUN's split is its database: the name must agree with --split.
        let train = "\(folder)/bedroom_train_lmdb", validation = "\(folder)/bedroom_val_lmdb"
        for database in [train, validation] {
            try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
            try writeLMDB(folder: database, values: [DataFixtures.webp(DataFixtures.rgb(0, width: 64, height: 64), width: 64, height: 64)])
        }
        XCTAssertEqual(try openImageSource(kind: .lsun, path: validation, split: .test).expectedCount, 1)
        XCTAssertEqual(try openImageSource(kind: .lsun, path: "\(train)/data.mdb", split: .train).expectedCount, 1)
        assertError(saying: [train, "training database", "_val_lmdb"]) { _ = try openImageSource(kind: .lsun, path: train, split: .test) }
        assertError(saying: [validation, "validation (test) database"]) { _ = try openImageSource(kind: .lsun, path: validation, split: .train) }
    }

    func testPackedSplitsAreReadFromBesideTheTrainingFile() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        try DataFixtures.writeCIFAR(path: "\(folder)/test_batch.bin", first: 0, count: 3)
        let cifar = try openDataset(kind: .cifar10, path: folder, split: .test)
        let shape = cifar.shape
        func pack(_ indices: [Int], _ name: String) throws {
            let writer = try PackedWriter(path: "\(folder)/\(name)", shape: shape)
            let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
            defer { image.deallocate() }
            for i in indices {
                cifar.copyImage(i, into: image)
                try writer.append(image)
            }
            try writer.finish()
        }
        try pack([0, 1], "celeba-train.packed")
        try pack([2], "celeba-test.packed")
        try pack([0, 1, 2], "whole.packed")
        let images = DataFixtures.images(of: cifar)
        for name in ["celeba-train.packed", "celeba-test.packed"] {
            XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .packed, path: "\(folder)/\(name)", split: .train)), Array(images[0...1]))
            XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .packed, path: "\(folder)/\(name)", split: .test)), [images[2]])
        }
        XCTAssertEqual(DataFixtures.images(of: try openDataset(kind: .packed, path: "\(folder)/whole.packed", split: .test)), images)
        assertError(saying: ["\(folder)/celeba-validation.packed", "does not exist", "validation split of \(folder)/celeba-train.packed",
                             "prepare --split validation"]) {
            _ = try openDataset(kind: .packed, path: "\(folder)/celeba-train.packed", split: .validation)
        }
    }
}
