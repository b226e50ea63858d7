// CIFAR-10 as published in its binary version: `data_batch_1.bin` ... `data_batch_5.bin` (train)
// and `test_batch.bin` (test), each 10,000 records of one label byte and 3072 bytes of a 32x32
// RGB image, planar CHW. Read from `PATH` or from `PATH/cifar-10-batches-bin`, memory-mapped.
import Foundation

/// The CIFAR-10 binary batches of one split.
public final class CIFAR10Dataset: ImageDataset, @unchecked Sendable {
    public static let recordSize = 1 + 3 * 32 * 32
    public let shape = ImageShape(channels: 3, height: 32, width: 32)
    public let count: Int
    public let labels: [Int]?
    private let files: [MappedFile]
    private let firstIndex: [Int]

    public init(directory: String, split: Split) throws {
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let folder = FileManager.default.fileExists(atPath: "\(directory)/cifar-10-batches-bin/\(names[0])")
            ? "\(directory)/cifar-10-batches-bin" : directory
        var files: [MappedFile] = []
        var firstIndex: [Int] = []
        var labels: [Int] = []
        for name in names {
            let path = "\(folder)/\(name)"
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError(file: path, "is missing: expected CIFAR-10's \(names.joined(separator: ", ")) in \(directory) or in \(directory)/cifar-10-batches-bin")
            }
            let file = try MappedFile(path: path)
            guard file.size > 0, file.size % CIFAR10Dataset.recordSize == 0 else {
                throw DataError(file: path, "expected a whole number of 3073-byte CIFAR-10 records (30,730,000 bytes as published), found \(file.size) bytes")
            }
            let records = file.size / CIFAR10Dataset.recordSize
            for record in 0..<records {
                let label = Int(file.bytes[record * CIFAR10Dataset.recordSize])
                guard label < 10 else {
                    throw DataError(file: path, "expected labels 0...9 at the start of each 3073-byte record, found \(label) in record \(record)")
                }
                labels.append(label)
            }
            firstIndex.append(labels.count - records)
            files.append(file)
        }
        self.files = files
        self.firstIndex = firstIndex
        self.labels = labels
        count = labels.count
    }

    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        precondition(index >= 0 && index < count, "CIFAR10Dataset: image \(index) is outside 0..<\(count).")
        let file = firstIndex.lastIndex { $0 <= index }!
        let record = files[file].bytes + (index - firstIndex[file]) * CIFAR10Dataset.recordSize
        destination.update(from: record + 1, count: shape.byteCount)
    }
}
