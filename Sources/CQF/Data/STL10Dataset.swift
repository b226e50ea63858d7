// STL-10 as published in its binary version (`stl10_binary/`): `unlabeled_X.bin` (100,000),
// `train_X.bin` (5,000) and `test_X.bin` (8,000), each image 3x96x96 bytes, planar, and within
// a channel column-major (the files were written from MATLAB). The train split is the unlabeled
// images followed by the labelled train images, as GAN and flow papers train on both; the
// files are memory-mapped (the unlabeled one is 2.7 GB) and transposed as each image is read.
import Foundation

/// The STL-10 binary images of one split.
public final class STL10Dataset: ImageDataset, @unchecked Sendable {
    public let shape = ImageShape(channels: 3, height: 96, width: 96)
    public let count: Int
    private let files: [MappedFile]
    private let firstIndex: [Int]

    public init(directory: String, split: Split) throws {
        let names = split == .train ? ["unlabeled_X.bin", "train_X.bin"] : ["test_X.bin"]
        let folder = FileManager.default.fileExists(atPath: "\(directory)/stl10_binary") ? "\(directory)/stl10_binary" : directory
        let imageBytes = 3 * 96 * 96
        var files: [MappedFile] = []
        var firstIndex: [Int] = []
        var total = 0
        for name in names where FileManager.default.fileExists(atPath: "\(folder)/\(name)") {
            let file = try MappedFile(path: "\(folder)/\(name)")
            guard file.size > 0, file.size % imageBytes == 0 else {
                throw DataError(file: file.path, "expected a whole number of 27,648-byte STL-10 images (3x96x96), found \(file.size) bytes")
            }
            files.append(file)
            firstIndex.append(total)
            total += file.size / imageBytes
        }
        guard !files.isEmpty else {
            throw DataError(file: folder, "expected STL-10's \(names.joined(separator: " or ")) in this folder, found none")
        }
        self.files = files
        self.firstIndex = firstIndex
        count = total
    }

    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        precondition(index >= 0 && index < count, "STL10Dataset: image \(index) is outside 0..<\(count).")
        let file = firstIndex.lastIndex { $0 <= index }!
        let image = files[file].bytes + (index - firstIndex[file]) * shape.byteCount
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
