// The real Fashion-MNIST from Debian's dataset-fashion-mnist (launch/setup.sh installs it).
import XCTest
@testable import CQF

final class FashionMNISTTests: XCTestCase {
    static let folder = "/usr/share/datasets/fashion-mnist"

    func testCountsAndClassBalance() throws {
        guard FileManager.default.fileExists(atPath: "\(Self.folder)/train-images-idx3-ubyte.gz") else {
            throw notInstalled("Fashion-MNIST", package: "dataset-fashion-mnist")
        }
        for (split, count, perClass) in [(Split.train, 60_000, 6_000), (.test, 10_000, 1_000)] {
            let dataset = try openDataset(kind: .fashionMNIST, path: Self.folder, split: split)
            XCTAssertEqual(dataset.count, count)
            XCTAssertEqual(dataset.shape, ImageShape(channels: 1, height: 32, width: 32))
            let labels = try XCTUnwrap(dataset.labels)
            XCTAssertEqual(labels.count, count)
            XCTAssertEqual((0..<10).map { c in labels.filter { $0 == c }.count }, [Int](repeating: perClass, count: 10))
            // The 2-pixel padding is zero and the images are not.
            var image = [UInt8](repeating: 1, count: 1024)
            var nonzero = 0
            for index in stride(from: 0, to: count, by: 997) {
                image.withUnsafeMutableBufferPointer { dataset.copyImage(index, into: $0.baseAddress!) }
                for y in 0..<32 { for x in 0..<32 where !((2..<30).contains(y) && (2..<30).contains(x)) {
                    XCTAssertEqual(image[y * 32 + x], 0)
                } }
                nonzero += image.filter { $0 > 0 }.count
            }
            XCTAssertGreaterThan(nonzero, 100 * (count / 997))
        }
    }

    func testPreparedTestSplitMatchesTheIdxFiles() throws {
        guard FileManager.default.fileExists(atPath: "\(Self.folder)/t10k-images-idx3-ubyte.gz") else {
            throw notInstalled("Fashion-MNIST", package: "dataset-fashion-mnist")
        }
        let folder = try DataFixtures.temporaryFolder(self)
        let summary = try prepareDataset(openImageSource(kind: .fashionMNIST, path: Self.folder, split: .test), to: "\(folder)/f.packed")
        XCTAssertEqual(summary.count, 10_000)
        let packed = try PackedDataset(path: "\(folder)/f.packed")
        let idx = try openDataset(kind: .fashionMNIST, path: Self.folder, split: .test)
        for index in [0, 1, 4_999, 9_999] {
            var a = [UInt8](repeating: 0, count: 1024), b = a
            a.withUnsafeMutableBufferPointer { packed.copyImage(index, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { idx.copyImage(index, into: $0.baseAddress!) }
            XCTAssertEqual(a, b)
        }
    }
}
