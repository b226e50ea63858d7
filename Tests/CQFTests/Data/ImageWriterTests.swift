// The PNG and NPZ writers: read back by our own decoders and by numpy.
import Foundation
import XCTest
@testable import CQF

final class ImageWriterTests: XCTestCase {
    func testPNGRoundTripsThroughLibpng() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let pixels = DataFixtures.rgb(3, width: 17, height: 9)
        try writePNG(path: "\(folder)/x.png", pixels: pixels, width: 17, height: 9, channels: 3)
        let source = try ImageFolderSource(path: folder, size: 9, crop: nil)
        var warnings: [String] = []
        let image = try DataFixtures.images(of: source, warnings: &warnings)[0]
        for c in 0..<3 { for y in 0..<9 { for x in 0..<9 {
            XCTAssertEqual(image[(c * 9 + y) * 9 + x], pixels[(y * 17 + x + 4) * 3 + c])
        } } }
        XCTAssertThrowsError(try writePNG(path: "\(folder)/no/such/x.png", pixels: pixels, width: 17, height: 9, channels: 3)) {
            XCTAssertTrue("\($0)".contains("\(folder)/no/such/x.png"))
        }
    }

    func testNPZIsReadByNumpyAndByOurZipReader() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let path = "\(folder)/samples.npz"
        let samples = (0..<(5 * 4 * 3 * 3)).map { UInt8($0 % 251) }
        try writeNPZ(path: path, arrays: [NPZArray(name: "arr_0", shape: [5, 4, 3, 3], bytes: samples),
                                          NPZArray(name: "labels", shape: [5], bytes: [1, 2, 3, 4, 5])])
        try runPython("""
            import numpy as np
            f = np.load('\(path)')
            assert sorted(f.files) == ['arr_0', 'labels'], f.files
            a = f['arr_0']
            assert a.dtype == np.uint8 and a.shape == (5, 4, 3, 3), (a.dtype, a.shape)
            assert (a.reshape(-1) == np.arange(180) % 251).all()
            assert list(f['labels']) == [1, 2, 3, 4, 5]
            """)
        let archive = try ZipArchive(path: path)
        let reader = try archive.reader(for: archive.member(named: "arr_0.npy"))
        let header = try NPYHeader(name: path) { try reader.read(into: $0, count: $1) }
        XCTAssertEqual(header.shape, [5, 4, 3, 3])
        XCTAssertEqual(header.descr, "|u1")
        XCTAssertEqual(header.size % 64, 0)
        var back = [UInt8](repeating: 0, count: samples.count)
        try back.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, count: samples.count) }
        XCTAssertEqual(back, samples)
    }

    /// `sample` streams its images: a member written in pieces is the file written whole, and
    /// the CRC-32 patched into the local header is that of the member's bytes.
    func testNPZWrittenInPiecesIsTheFileWrittenWhole() throws {
        let folder = try DataFixtures.temporaryFolder(self)
        let samples = (0..<1000).map { UInt8($0 % 253) }
        try writeNPZ(path: "\(folder)/whole.npz", arrays: [NPZArray(name: "arr_0", shape: [10, 10, 10, 1], bytes: samples)])
        let writer = try NPZWriter(path: "\(folder)/pieces.npz")
        try writer.begin(name: "arr_0", descr: "|u1", shape: [10, 10, 10, 1])
        for start in stride(from: 0, to: samples.count, by: 300) { try writer.append(Array(samples[start..<min(start + 300, samples.count)])) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/pieces.npz"), "the file has its name only when finished")
        try writer.finish()
        let bytes = try DataFixtures.read("\(folder)/pieces.npz")
        XCTAssertEqual(bytes, try DataFixtures.read("\(folder)/whole.npz"))
        let word = { (at: Int) in (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let (size, nameLength) = (word(18), Int(bytes[26]) | Int(bytes[27]) << 8)
        let member = Array(bytes[30 + nameLength..<30 + nameLength + size])
        XCTAssertEqual(UInt32(word(14)), crc32(0, member, count: member.count))
        XCTAssertEqual(Array(member.suffix(samples.count)), samples)
    }
}
