// `prepare`: any image source into one packed file, in constant memory (one image in flight,
// a 4 MiB write buffer), written under a temporary name and renamed when complete.
import Foundation

/// What `prepareDataset` wrote.
public struct PrepareSummary: Sendable {
    public let path: String
    public let shape: ImageShape
    public let count: Int
    /// Images the source skipped with a warning.
    public let skipped: Int
    public let checksum: UInt32
    public let seconds: Double
}

/// Packs every image of `source` into `path`. Skipped images are passed to `warn` and counted;
/// a source that yields no image at all is an error. `progress` counts written and skipped images.
public func prepareDataset(_ source: ImageSource, to path: String, progress: ProgressLine? = nil,
                           warn: (String) -> Void = { _ in }) throws -> PrepareSummary {
    let start = Date()
    let writer = try PackedWriter(path: path, shape: source.shape)
    var skipped = 0
    try source.forEachImage(warn: { skipped += 1; progress?.advance(); warn($0) }) { image in
        try writer.append(image)
        progress?.advance()
    }
    progress?.finish()
    guard writer.count > 0 else {
        throw DataError(file: path, "was not written: no image could be read from the input (\(skipped) skipped)")
    }
    try writer.finish()
    return PrepareSummary(path: path, shape: source.shape, count: writer.count, skipped: skipped,
                          checksum: writer.checksum, seconds: Date().timeIntervalSince(start))
}
