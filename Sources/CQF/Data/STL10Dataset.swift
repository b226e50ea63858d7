// STL-10 as published in its binary version (`stl10_binary/`): `unlabeled_X.bin` (100,000),
// `train_X.bin` (5,000) and `test_X.bin` (8,000), each image 3x96x96 bytes, planar, and within
// a channel column-major (the files were written from MATLAB). As in the paper, the train split
// is the 100,000 unlabeled images and the test split the 8,000 test images; the 5,000 labelled
// training images are the `labelled` split, read only when asked for. The file is
// memory-mapped (the unlabeled one is 2.7 GB) and transposed as each image is read.
import Foundation

/// The STL-10 binary images of one split.
public final class STL10Dataset: ImageDataset, @unchecked Sendable {
    public let shape = ImageShape(channels: 3, height: 96, width: 96)
    public let count: Int
    private let file: MappedFile

    /// The publisher's file of each split.
    public static let fileNames: [Split: String] = [.train: "unlabeled_X.bin", .labelled: "train_X.bin", .test: "test_X.bin"]

    public init(directory: String, split: Split) throws {
        guard let name = STL10Dataset.fileNames[split] else {
            throw DataError("--split \(split.rawValue): STL-10 has the splits train (unlabeled_X.bin), labelled (train_X.bin) and test (test_X.bin)")
        }
        let folder = FileManager.default.fileExists(atPath: "\(directory)/stl10_binary") ? "\(directory)/stl10_binary" : directory
        guard FileManager.default.fileExists(atPath: "\(folder)/\(name)") else {
            throw DataError(file: folder, "expected STL-10's \(name) (its \(split.rawValue) split) in this folder, found none")
        }
        file = try MappedFile(path: "\(folder)/\(name)")
        let imageBytes = shape.byteCount
        guard file.size > 0, file.size % imageBytes == 0 else {
            throw DataError(file: file.path, "expected a whole number of 27,648-byte STL-10 images (3x96x96), found \(file.size) bytes")
        }
        count = file.size / imageBytes
    }

    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        precondition(index >= 0 && index < count, "STL10Dataset: image \(index) is outside 0..<\(count).")
        let image = file.bytes + index * shape.byteCount
        let side = 96
        for channel in 0..<3 {
            let plane = image + channel * side * side
            let output = destination + channel * side * side
            for column in 0..<side {
                for row in 0..<side {
                    output[row * side + column] = plane[column * side + row]
                }
            }
        }
    }
}
