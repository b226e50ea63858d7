// `prepare` shared out over ranks writes the bytes one rank writes: each rank packs its block of
// the source in place and, where earlier blocks skipped undecodable images, moves its images
// back over the gap. Ranks are threads here (ThreadedWorld); MultiRankTests runs the command
// under mpirun.
import Foundation
import XCTest
@testable import CQF

final class ParallelPrepareTests: XCTestCase {
    // 11 items: with 3 ranks the blocks are 0..<3, 3..<7, 7..<11; items 1 and 4 (in the first
    // two blocks) do not decode, so the last two blocks must move back by 1 and 2 images.
    static let damaged: Set<Int> = [1, 4]

    func testFolderOverRanksHasTheBytesOfOneRank() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let images = "\(folder)/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for i in 0..<11 {
            let path = String(format: "\(images)/%02d.jpg", i)
            if Self.damaged.contains(i) {
                try DataFixtures.write(Array("not a jpeg \(i)".utf8), to: path)
            } else {
                try DataFixtures.writeFlatJPEG(path: path, i, width: 40, height: 40)
            }
        }
        try assertRanksWriteTheBytesOfOneRank(openImageSource(kind: .folder, path: images, split: .train, size: 16, crop: 40),
                                              in: folder, keeping: ["images"])
    }

    func testLSUNOverRanksHasTheBytesOfOneRank() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let database = "\(folder)/bedroom_train_lmdb"
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        try writeLMDB(folder: database, values: (0..<11).map { i in
            Self.damaged.contains(i) ? Array("garbage record".utf8) : DataFixtures.webp(DataFixtures.rgb(i, width: 64, height: 64), width: 64, height: 64)
        })
        try assertRanksWriteTheBytesOfOneRank(openImageSource(kind: .lsun, path: database, split: .train, size: 32),
                                              in: folder, keeping: ["bedroom_train_lmdb"])
    }

    private func assertRanksWriteTheBytesOfOneRank(_ source: ImageSource, in folder: String, keeping inputs: [String]) throws {
        let single = try prepareDataset(source, to: "\(folder)/one.packed")
        XCTAssertEqual(single.count, 9)
        XCTAssertEqual(single.skipped, 2)

        for ranks in [2, 3] {
            let path = "\(folder)/ranks-\(ranks).packed"
            let summaries = ThreadedWorld(size: ranks).run { communicator in
                Result { try prepareDataset(source, to: path, over: communicator) }
            }
            for summary in summaries {
                let summary = try summary.get()
                XCTAssertEqual([summary.count, summary.skipped], [9, 2], "\(ranks) ranks")
                XCTAssertEqual(summary.checksum, single.checksum, "\(ranks) ranks: the CRC-32 combined from the blocks'")
            }
            XCTAssertEqual(try DataFixtures.read(path), try DataFixtures.read("\(folder)/one.packed"), "\(ranks) ranks")
            XCTAssertNoThrow(try PackedDataset(path: path))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(),
                       (inputs + ["one.packed", "ranks-2.packed", "ranks-3.packed"]).sorted(), "no temporary file is left")
    }
}
