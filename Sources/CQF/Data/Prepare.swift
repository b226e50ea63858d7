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
/// a source that yields no image at all is an error. `progress` counts this rank's written and
/// skipped images.
///
/// Over several ranks, each reads a contiguous block of the source's items and writes the
/// images it keeps at their place in one temporary file; when a rank skipped images, the ranks
/// after it move their images back over the gap, in rank order. The file has the bytes that
/// one rank would write (its CRC-32 combined from the blocks'), and every rank returns the
/// same summary. A rank that fails must end the job (`Communicator.abort`): the others wait
/// for it in a collective.
public func prepareDataset(_ source: ImageSource, to path: String, over communicator: Communicator = SingleProcess(),
                           progress: ProgressLine? = nil, warn: (String) -> Void = { _ in }) throws -> PrepareSummary {
    let start = Date()
    let (rank, ranks, items) = (communicator.rank, communicator.size, source.expectedCount)
    let block = items * rank / ranks..<items * (rank + 1) / ranks
    // One temporary file for all ranks, named by rank 0, which creates it before the others open it.
    let temporaryPath = "\(path).tmp-\(communicator.rootProcessID)"
    func openWriter() throws -> PackedWriter {
        try PackedWriter(path: path, shape: source.shape, temporaryPath: temporaryPath, firstImage: block.lowerBound, create: rank == 0)
    }
    let created = try rank == 0 ? openWriter() : nil
    communicator.barrier()
    let writer = try created ?? openWriter()
    var skipped = 0
    try source.forEachImage(in: block, warn: { skipped += 1; progress?.advance(); warn($0) }) { image in
        try writer.append(image)
        progress?.advance()
    }
    progress?.finish()
    try writer.completeBlock()

    let blocks = communicator.gathered([Double(writer.count), Double(writer.checksum), Double(skipped)])
    let (count, skippedTotal) = blocks.reduce((0, 0)) { ($0.0 + Int($1[0]), $0.1 + Int($1[2])) }
    guard count > 0 else {
        throw DataError(file: path, "was not written: no image could be read from the input (\(skippedTotal) skipped)")
    }
    let target = blocks[..<rank].reduce(0) { $0 + Int($1[0]) }
    for turn in 1..<ranks {
        if turn == rank && target != block.lowerBound { try writer.moveImages(from: block.lowerBound, to: target) }
        communicator.barrier()
    }
    let checksum = blocks.dropFirst().reduce(UInt32(blocks[0][1])) { crc, part in
        crc32Combine(crc, UInt32(part[1]), count: Int(part[0]) * source.shape.byteCount)
    }
    if rank == 0 { try writer.publish(count: count, checksum: checksum) }
    communicator.barrier()
    return PrepareSummary(path: path, shape: source.shape, count: count, skipped: skippedTotal,
                          checksum: checksum, seconds: Date().timeIntervalSince(start))
}
