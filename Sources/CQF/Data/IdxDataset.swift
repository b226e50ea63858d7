// MNIST and Fashion-MNIST as published: idx files, gzipped or not
// (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-...` for the test split).
// The images are read whole into memory (47 MB for 60,000) and the 28x28 digits are
// zero-padded to 32x32 on the way out (MODEL.md: the model's scales need a power of two).
import CImageCodecs
import Foundation

/// An idx image file and its label file, in memory.
public final class IdxDataset: ImageDataset, @unchecked Sendable {
    public let count: Int
    public let shape: ImageShape
    public let labels: [Int]?
    public let imagePath: String
    private let pixels: [UInt8]
    private let sourceHeight: Int
    private let sourceWidth: Int

    /// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` from
    /// `directory`, where the prefix is `train` or `t10k`.
    public init(directory: String, split: Split) throws {
        let prefix = split == .train ? "train" : "t10k"
        imagePath = try IdxDataset.find(directory, "\(prefix)-images-idx3-ubyte")
        let header = try IdxDataset.header(IdxDataset.read(imagePath, limit: 16), path: imagePath, magic: 0x0000_0803, dimensions: 3)
        let (n, rows, columns) = (header[0], header[1], header[2])
        // Each size is a 32-bit header word, so within these bounds the product cannot overflow;
        // the images are held in memory, and idx datasets are far smaller than 2 GiB.
        guard rows > 0, columns > 0, rows <= 1 << 12, columns <= 1 << 12, n * rows * columns <= 1 << 31 else {
            throw DataError(file: imagePath, "has a header of \(n) images of \(rows)x\(columns) pixels; "
                + "expected images of at most 4096x4096 and at most 2 GiB of them")
        }
        let imageBytes = 16 + n * rows * columns
        let images = try IdxDataset.read(imagePath, limit: imageBytes + 1)
        guard images.count == imageBytes else {
            throw DataError(file: imagePath, "expected 16 + \(n) x \(rows) x \(columns) bytes for \(n) images of \(rows)x\(columns), found "
                + (images.count > imageBytes ? "more" : "\(images.count)"))
        }
        count = n
        sourceHeight = rows
        sourceWidth = columns
        pixels = Array(images[16...])
        let padded = rows == 28 && columns == 28
        shape = ImageShape(channels: 1, height: padded ? 32 : rows, width: padded ? 32 : columns)

        let labelPath = try IdxDataset.find(directory, "\(prefix)-labels-idx1-ubyte")
        let labelBytes = try IdxDataset.read(labelPath, limit: 8 + n + 1)
        let labelCount = try IdxDataset.header(labelBytes, path: labelPath, magic: 0x0000_0801, dimensions: 1)[0]
        guard labelCount == n, labelBytes.count == 8 + n else {
            throw DataError(file: labelPath, "expected \(n) labels (\(8 + n) bytes) to match \(imagePath), found a header of \(labelCount) and \(labelBytes.count) bytes")
        }
        labels = labelBytes[8...].map { Int($0) }
    }

    public func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        precondition(index >= 0 && index < count, "IdxDataset: image \(index) is outside 0..<\(count).")
        let padTop = (shape.height - sourceHeight) / 2
        let padLeft = (shape.width - sourceWidth) / 2
        if padTop > 0 || padLeft > 0 {
            destination.initialize(repeating: 0, count: shape.byteCount)
        }
        pixels.withUnsafeBufferPointer { all in
            let image = all.baseAddress! + index * sourceHeight * sourceWidth
            for row in 0..<sourceHeight {
                (destination + (row + padTop) * shape.width + padLeft)
                    .update(from: image + row * sourceWidth, count: sourceWidth)
            }
        }
    }

    /// `name.gz` or `name` in `directory`.
    static func find(_ directory: String, _ name: String) throws -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw DataError(file: directory, "expected \(name).gz or \(name) in this folder, found neither")
    }

    /// The file's first `limit` bytes (all of it when shorter), inflated when it is gzipped
    /// (zlib's gzread passes plain files through): a header decides how much to read, never
    /// the file, whose inflated size can be anything.
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw DataError(file: path, "cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { gzclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while bytes.count < limit {
            let wanted = min(chunk.count, limit - bytes.count)
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(wanted)) }
            if read < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                throw DataError(file: path, "is corrupt or truncated (zlib: \(message))")
            }
            if read == 0 { break }
            bytes.append(contentsOf: chunk[0..<Int(read)])
        }
        return bytes
    }

    /// The dimension sizes after checking the big-endian magic number.
    static func header(_ bytes: [UInt8], path: String, magic: UInt32, dimensions: Int) throws -> [Int] {
        func word(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[4 * i + $1]) } }
        guard bytes.count >= 4 + 4 * dimensions else {
            throw DataError(file: path, "is \(bytes.count) bytes, too short for an idx header")
        }
        guard word(0) == magic else {
            throw DataError(file: path, "expected the idx magic number \(hex(magic)), found \(hex(word(0)))")
        }
        return (1...dimensions).map { Int(word($0)) }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
