// The loader's promises: over P = 1, 2, 3 ranks an epoch's shards cover the set once and no rank
// reads another's images; the same order on every rank; the numbers a model sees do not depend
// on P; a resumed loader continues with the next unseen batch.
import XCTest
@testable import CQF

/// A dataset of 1x2x2 images whose bytes encode their index, recording which it was asked for.
final class RecordingDataset: ImageDataset, @unchecked Sendable {
    let count: Int
    let shape = ImageShape(channels: 1, height: 2, width: 2)
    private(set) var reads: [Int] = []

    init(count: Int) { self.count = count }

    func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        reads.append(index)
        for k in 0..<4 { destination[k] = UInt8(truncatingIfNeeded: index * 4 + k) }
    }
}

final class BatchLoaderTests: XCTestCase {
    func testShardsCoverTheEpochOnceAndRanksReadOnlyTheirOwn() throws {
        for ranks in 1...3 {
            let count = 60, batch = 6
            var seenInEpoch: [Int: [Int]] = [:]
            for rank in 0..<ranks {
                let dataset = RecordingDataset(count: count)
                let loader = try BatchLoader(dataset: dataset, globalBatch: batch, rank: rank, ranks: ranks, seed: 5)
                var output = [UInt8](repeating: 0, count: loader.localBatchCount)
                var mine: [Int] = []
                for step in 0..<(2 * count / batch) {
                    let info = output.withUnsafeMutableBufferPointer { loader.next(raw: $0.baseAddress!) }
                    XCTAssertEqual(info.step, step)
                    let shard = loader.shard(epoch: info.epoch, batch: info.batch).map(Int.init)
                    XCTAssertEqual(shard.count, batch / ranks)
                    XCTAssertEqual((0..<shard.count).map { Int(output[4 * $0]) / 4 }, shard.map { $0 % 64 })
                    seenInEpoch[info.epoch, default: []] += shard
                    mine += shard
                }
                XCTAssertEqual(dataset.reads, mine, "rank \(rank) of \(ranks) read images outside its shards")
            }
            for epoch in 0..<2 {
                XCTAssertEqual(seenInEpoch[epoch]!.sorted(), Array(0..<count), "P = \(ranks), epoch \(epoch)")
            }
            XCTAssertNotEqual(BatchLoader.permutation(count: count, seed: 5, epoch: 0),
                              BatchLoader.permutation(count: count, seed: 5, epoch: 1))
        }
    }

    func testAnUnevenSetVisitsEachImageAtMostOncePerEpoch() throws {
        let loader = try BatchLoader(dataset: RecordingDataset(count: 23), globalBatch: 4, rank: 0, ranks: 2, seed: 1)
        XCTAssertEqual(loader.batchesPerEpoch, 5)
        var seen: [Int] = []
        var output = [UInt8](repeating: 0, count: loader.localBatchCount)
        for _ in 0..<5 {
            let info = output.withUnsafeMutableBufferPointer { loader.next(raw: $0.baseAddress!) }
            XCTAssertEqual(info.epoch, 0)
            seen += loader.shard(epoch: 0, batch: info.batch).map(Int.init)
        }
        XCTAssertEqual(Set(seen).count, seen.count)
        XCTAssertEqual(loader.position, LoaderPosition(epoch: 1, batch: 0))
    }

    /// One rank with B images and three with B/3 each produce the same floats, and each value
    /// is (x_int + u) / 256 with u in [0, 1).
    func testDequantisedBatchesDoNotDependOnTheNumberOfRanks() throws {
        let dataset = RecordingDataset(count: 30)
        let single = try BatchLoader(dataset: dataset, globalBatch: 6, rank: 0, ranks: 1, seed: 9)
        let split = try (0..<3).map { try BatchLoader(dataset: dataset, globalBatch: 6, rank: $0, ranks: 3, seed: 9) }
        for _ in 0..<7 {
            var whole = [Float](repeating: 0, count: single.localBatchCount)
            _ = whole.withUnsafeMutableBufferPointer { single.next(into: $0.baseAddress!) }
            var parts: [Float] = []
            for loader in split {
                var part = [Float](repeating: 0, count: loader.localBatchCount)
                _ = part.withUnsafeMutableBufferPointer { loader.next(into: $0.baseAddress!) }
                parts += part
            }
            XCTAssertEqual(whole, parts)
            XCTAssertTrue(whole.allSatisfy { $0 >= 0 && $0 < 1 })
            for (k, value) in whole.enumerated() where k % 4 == 0 {
                let index = Int(Float(256) * value) / 4
                XCTAssertTrue((0..<30).contains(index))
            }
        }
    }

    func testNoiseIsFreshEachStepAndMatchesTheFormula() throws {
        let dataset = RecordingDataset(count: 4)
        let loader = try BatchLoader(dataset: dataset, globalBatch: 4, rank: 0, ranks: 1, seed: 3)
        var first = [Float](repeating: 0, count: 16), second = first
        _ = first.withUnsafeMutableBufferPointer { loader.next(into: $0.baseAddress!) }
        _ = second.withUnsafeMutableBufferPointer { loader.next(into: $0.baseAddress!) }
        let order = loader.shard(epoch: 0, batch: 0).map(Int.init)
        for (slot, index) in order.enumerated() {
            for k in 0..<4 {
                let integer = Float(index * 4 + k)
                let u = first[slot * 4 + k] * 256 - integer
                XCTAssertTrue(u >= 0 && u < 1, "u = \(u)")
            }
        }
        XCTAssertNotEqual(Set(first), Set(second))
    }

    /// A loader restored at a saved position gives what the original gives next.
    func testResumeContinuesWithTheNextUnseenBatch() throws {
        let dataset = RecordingDataset(count: 20)
        let original = try BatchLoader(dataset: dataset, globalBatch: 4, rank: 1, ranks: 2, seed: 11)
        var buffer = [Float](repeating: 0, count: original.localBatchCount)
        for _ in 0..<7 { _ = buffer.withUnsafeMutableBufferPointer { original.next(into: $0.baseAddress!) } }
        let saved = try JSONEncoder().encode(original.position)
        let resumed = try BatchLoader(dataset: dataset, globalBatch: 4, rank: 1, ranks: 2, seed: 11,
                                      position: JSONDecoder().decode(LoaderPosition.self, from: saved))
        XCTAssertEqual(resumed.position, LoaderPosition(epoch: 1, batch: 2))
        for _ in 0..<5 {
            var a = buffer, b = buffer
            let infoA = a.withUnsafeMutableBufferPointer { original.next(into: $0.baseAddress!) }
            let infoB = b.withUnsafeMutableBufferPointer { resumed.next(into: $0.baseAddress!) }
            XCTAssertEqual(infoA, infoB)
            XCTAssertEqual(a, b)
        }
    }

    func testBadBatchSplitsAreSentences() {
        XCTAssertThrowsError(try BatchLoader(dataset: RecordingDataset(count: 10), globalBatch: 5, rank: 0, ranks: 2, seed: 0)) {
            XCTAssertTrue("\($0)".contains("does not split over 2 ranks"))
        }
        XCTAssertThrowsError(try BatchLoader(dataset: RecordingDataset(count: 3), globalBatch: 4, rank: 0, ranks: 1, seed: 0))
    }

    func testEvaluationCoversEveryImageOnceWithFixedNoise() throws {
        for ranks in 1...3 {
            var seen: [Int] = []
            for rank in 0..<ranks {
                let dataset = RecordingDataset(count: 11)
                let batches = try EvaluationBatches(dataset: dataset, globalBatch: 4, rank: rank, ranks: ranks, seed: 2)
                var output = [Float](repeating: 0, count: 4 * 4)
                var again = output
                let twin = try EvaluationBatches(dataset: dataset, globalBatch: 4, rank: rank, ranks: ranks, seed: 2)
                while let n = output.withUnsafeMutableBufferPointer({ batches.next(into: $0.baseAddress!) }) {
                    _ = again.withUnsafeMutableBufferPointer { twin.next(into: $0.baseAddress!) }
                    XCTAssertEqual(output[..<(4 * n)], again[..<(4 * n)])
                    seen += (0..<n).map { Int(Float(256) * output[4 * $0]) / 4 }
                }
            }
            XCTAssertEqual(seen.sorted(), Array(0..<11), "P = \(ranks)")
        }
    }
}
