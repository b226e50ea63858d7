// Throughput measurements of the data path, for `bench --data` (Distributed/DataBench.swift):
// the packed loader with dequantisation, and `prepare` of a folder of JPEGs. Both run on the
// calling thread only, so the figures are per core. The inputs are made on the spot in a
// temporary folder and removed afterwards.
import Foundation

/// One measured rate.
public struct ThroughputResult: Sendable {
    public let name: String
    public let imagesPerSecond: Double
    public let images: Int
    public let seconds: Double
    /// What was measured, for the record.
    public let detail: String
}

/// The packed loader: `next(into:)` at (globalBatch, 3, side, side) over a packed file of
/// `count` images of noise, for at least `minimumSeconds`.
public func measureLoaderThroughput(count: Int = 20_000, side: Int = 32, globalBatch: Int = 64,
                                    minimumSeconds: Double = 2) throws -> ThroughputResult {
    let folder = try temporaryBenchFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let shape = ImageShape(channels: 3, height: side, width: side)
    let writer = try PackedWriter(path: "\(folder)/bench.packed", shape: shape)
    let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
    defer { image.deallocate() }
    for index in 0..<count {
        for k in 0..<shape.byteCount { image[k] = UInt8(truncatingIfNeeded: (index &* 2_654_435_761) >> 7 &+ k &* 31) }
        try writer.append(image)
    }
    try writer.finish()
    let loader = try BatchLoader(dataset: PackedDataset(path: "\(folder)/bench.packed"), globalBatch: globalBatch,
                                 rank: 0, ranks: 1, seed: 1)
    let output = UnsafeMutablePointer<Float>.allocate(capacity: loader.localBatchCount)
    defer { output.deallocate() }
    _ = loader.next(into: output)
    let start = Date()
    var images = 0
    while Date().timeIntervalSince(start) < minimumSeconds {
        for _ in 0..<50 { _ = loader.next(into: output) }
        images += 50 * globalBatch
    }
    let seconds = Date().timeIntervalSince(start)
    return ThroughputResult(name: "loader", imagesPerSecond: Double(images) / seconds, images: images, seconds: seconds,
                            detail: "packed \(shape) uint8, memory-mapped, batch \(globalBatch), dequantised to float with Philox noise, 1 thread")
}

/// `prepare` of a folder of `count` CelebA-sized JPEGs (178x218, quality 90, textured so the
/// decoder has real work): center crop 178, resize to 96, packed.
public func measureFolderPrepareThroughput(count: Int = 1_000) throws -> ThroughputResult {
    let folder = try temporaryBenchFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (width, height) = (178, 218)
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    try FileManager.default.createDirectory(atPath: "\(folder)/images", withIntermediateDirectories: true)
    for index in 0..<count {
        let generator = Philox(seed: UInt64(index), stream: 0)
        for k in 0..<pixels.count {
            let (y, x) = (k / (width * 3), k / 3 % width)
            let noise = Int(generator.block(a: 0, b: 0, blockIndex: k).0 >> 28)
            pixels[k] = UInt8((x * (1 + index % 3) + y * 2 + (k % 3) * 60 + noise * 4) % 256)
        }
        try writeJPEG(path: "\(folder)/images/\(String(format: "%06d", index)).jpg", pixels: pixels,
                      width: width, height: height, channels: 3, quality: 90)
    }
    let source = try ImageFolderSource(path: "\(folder)/images", size: 96, crop: 178)
    let summary = try prepareDataset(source, to: "\(folder)/bench.packed")
    return ThroughputResult(name: "prepare_jpeg_folder", imagesPerSecond: Double(summary.count) / summary.seconds,
                            images: summary.count, seconds: summary.seconds,
                            detail: "\(count) JPEGs of \(width)x\(height) (quality 90), center crop 178, antialiased resize to 96, packed, 1 thread")
}

private func temporaryBenchFolder() throws -> String {
    let path = NSTemporaryDirectory() + "cqf-data-bench-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
