// Throughput measurements of the data path, for `bench --data` (Distributed/DataBench.swift):
// the packed loader with dequantisation, and `prepare` of a folder of JPEGs and of an LSUN-style
// lmdb of WebP images. Each rank runs on its calling thread only, so one rank's figures are per
// core; `prepare` is shared out over the ranks of a communicator, as under `mpirun`. The inputs
// are made on the spot by rank 0 in a temporary folder the ranks share, and removed afterwards.
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
    try withSharedBenchFolder(SingleProcess()) { folder in
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
}

/// `prepare` of a folder of `count` CelebA-sized JPEGs (178x218, quality 90, textured so the
/// decoder has real work): center crop 178, resize to 96, packed, over the ranks of `communicator`.
public func measureFolderPrepareThroughput(count: Int = 4_000, over communicator: Communicator = SingleProcess()) throws -> ThroughputResult {
    let (width, height) = (178, 218)
    return try measurePrepareThroughput(
        name: "prepare_jpeg_folder", over: communicator,
        detail: "\(count) JPEGs of \(width)x\(height) (quality 90), center crop 178, antialiased resize to 96, packed",
        writeInput: { folder in
            try FileManager.default.createDirectory(atPath: "\(folder)/images", withIntermediateDirectories: true)
            for index in 0..<count {
                try writeJPEG(path: "\(folder)/images/\(String(format: "%06d", index)).jpg", pixels: texturedPixels(index, width: width, height: height),
                              width: width, height: height, channels: 3, quality: 90)
            }
        },
        source: { folder in try ImageFolderSource(path: "\(folder)/images", size: 96, crop: 178) })
}

/// `prepare` of an lmdb of `count` LSUN-sized WebP images (342x256: LSUN's images are 256 on
/// their shorter side; lossy, quality 75, textured): center crop 256, resize to 64, packed, over
/// the ranks of `communicator`.
public func measureLSUNPrepareThroughput(count: Int = 2_000, over communicator: Communicator = SingleProcess()) throws -> ThroughputResult {
    let (width, height) = (342, 256)
    return try measurePrepareThroughput(
        name: "prepare_lsun_webp", over: communicator,
        detail: "lmdb of \(count) WebPs of \(width)x\(height) (lossy, quality 75), center crop 256, antialiased resize to 64, packed",
        writeInput: { folder in
            try FileManager.default.createDirectory(atPath: "\(folder)/bedroom_train_lmdb", withIntermediateDirectories: true)
            try writeLMDB(folder: "\(folder)/bedroom_train_lmdb", values: (0..<count).map {
                encodeWebP(texturedPixels($0, width: width, height: height), width: width, height: height, quality: 75)
            })
        },
        source: { folder in try LSUNSource(path: "\(folder)/bedroom_train_lmdb", split: .train, size: 64, crop: nil) })
}

/// `prepare` over the ranks of `communicator` of the input that rank 0 writes with `writeInput`
/// into the shared bench folder and every rank opens with `source`.
private func measurePrepareThroughput(name: String, over communicator: Communicator, detail: String,
                                      writeInput: (String) throws -> Void, source: (String) throws -> ImageSource) throws -> ThroughputResult {
    try withSharedBenchFolder(communicator) { folder in
        if communicator.isRoot { try writeInput(folder) }
        communicator.barrier()
        let summary = try prepareDataset(try source(folder), to: "\(folder)/bench.packed", over: communicator)
        return ThroughputResult(name: name, imagesPerSecond: Double(summary.count) / summary.seconds, images: summary.count,
                                seconds: summary.seconds, detail: detail + ", " + ranks(communicator))
    }
}

/// Image `index` of a bench input: HWC RGB gradients with noise, so that codecs have real work.
private func texturedPixels(_ index: Int, width: Int, height: Int) -> [UInt8] {
    let generator = Philox(seed: UInt64(index), stream: 0)
    return (0..<width * height * 3).map { k in
        let (y, x) = (k / (width * 3), k / 3 % width)
        let noise = Int(generator.block(a: 0, b: 0, blockIndex: k).0 >> 28)
        return UInt8((x * (1 + index % 3) + y * 2 + (k % 3) * 60 + noise * 4) % 256)
    }
}

private func ranks(_ communicator: Communicator) -> String {
    communicator.size == 1 ? "1 thread" : "\(communicator.size) ranks of 1 thread"
}

/// Runs `body` in a temporary folder that every rank names alike (from rank 0's process id),
/// made by rank 0 and removed by it once every rank is done.
private func withSharedBenchFolder<Result>(_ communicator: Communicator, _ body: (String) throws -> Result) throws -> Result {
    let folder = NSTemporaryDirectory() + "cqf-data-bench-\(communicator.rootProcessID)"
    let remove = { if communicator.isRoot { try? FileManager.default.removeItem(atPath: folder) } }
    if communicator.isRoot { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    do {
        let result = try body(folder)
        communicator.barrier()
        remove()
        return result
    } catch {
        remove()
        throw error
    }
}
