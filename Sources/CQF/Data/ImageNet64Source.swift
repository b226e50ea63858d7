// Downsampled ImageNet (Chrabaszcz et al. 2017) as released in npz: `train_data_batch_1.npz`
// ... `train_data_batch_10.npz` and `val_data.npz`, each holding `data`, (N, 3*S*S) uint8 rows
// in planar CHW order (S = 64, or 32 for the 32x32 release), and `labels`. Streamed member by
// member through zlib, so the 15 GB of training images pass through a buffer of one image.
import Foundation

/// The npz batches of one split, read in order (batch 1 to 10).
public struct ImageNet64Source: ImageSource {
    public let shape: ImageShape
    public let expectedCount: Int
    public let paths: [String]
    /// The images of each file, as its header says.
    let rowsPerFile: [Int]

    public init(directory: String, split: Split) throws {
        let names = split == .train ? (1...10).map { "train_data_batch_\($0).npz" } : ["val_data.npz"]
        paths = names.map { "\(directory)/\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
        guard !paths.isEmpty else {
            throw DataError(file: directory, "expected the ImageNet 64x64 npz files \(split == .train ? "train_data_batch_1.npz ... train_data_batch_10.npz" : "val_data.npz") in this folder, found none")
        }
        var shape: ImageShape?
        var rowsPerFile: [Int] = []
        for path in paths {
            let (_, header) = try ImageNet64Source.open(path)
            let side = Int((Double(header.shape[1]) / 3).squareRoot().rounded())
            let fileShape = ImageShape(channels: 3, height: side, width: side)
            if let shape, shape != fileShape {
                throw DataError(file: path, "holds \(fileShape) images, expected \(shape) like \(paths[0])")
            }
            shape = fileShape
            rowsPerFile.append(header.shape[0])
        }
        self.shape = shape!
        self.rowsPerFile = rowsPerFile
        expectedCount = rowsPerFile.reduce(0, +)
    }

    /// A batch file wholly before `items` is not opened; rows before the range within a file
    /// are inflated and dropped (the zip stream cannot seek).
    public func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { image.deallocate() }
        var first = 0
        for (path, rows) in zip(paths, rowsPerFile) {
            defer { first += rows }
            guard first < items.upperBound else { return }
            guard first + rows > items.lowerBound else { continue }
            let (reader, _) = try ImageNet64Source.open(path)
            for row in first..<min(first + rows, items.upperBound) {
                try reader.read(into: image, count: shape.byteCount)
                if row >= items.lowerBound { try body(image) }
            }
        }
    }

    /// The `data.npy` member of one npz, positioned after its header, which must describe
    /// (N, 3*S*S) uint8 rows in C order.
    static func open(_ path: String) throws -> (ZipMemberReader, NPYHeader) {
        let archive = try ZipArchive(path: path)
        let reader = try archive.reader(for: archive.member(named: "data.npy"))
        let header = try NPYHeader(name: "\(path) (data.npy)") { try reader.read(into: $0, count: $1) }
        let side = header.shape.count == 2 ? Int((Double(header.shape[1]) / 3).squareRoot().rounded()) : 0
        guard ["|u1", "<u1", ">u1"].contains(header.descr), !header.fortranOrder, header.shape.count == 2,
              side > 0, 3 * side * side == header.shape[1], reader.member.size == header.size + header.shape[0] * header.shape[1] else {
            throw DataError(file: path, "expected data.npy to hold (N, 3*S*S) uint8 rows in C order, found dtype \(header.descr), shape \(header.shape)\(header.fortranOrder ? " in Fortran order" : "")")
        }
        return (reader, header)
    }
}
