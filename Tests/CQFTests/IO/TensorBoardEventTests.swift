// TensorBoard's event files at the byte level: CRC-32C against its published check values, the
// protobuf encoding against the examples of protobuf's documentation, and the records of a
// written file (framing, CRCs, what a scalar event holds). launch/ci/tensorboard-test.sh reads
// a training run's file with tensorboard's own reader.
import XCTest
@testable import CQF

final class TensorBoardEventTests: XCTestCase {
    func testCRC32CMatchesItsCheckValues() {
        XCTAssertEqual(crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)  // RFC 3720, B.4
        XCTAssertEqual(crc32c([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
    }

    func testProtobufEncodingMatchesTheDocumentedExamples() {
        var message = ProtobufMessage()
        message.integer(1, 150)
        XCTAssertEqual(message.encoded, [0x08, 0x96, 0x01])
        message = ProtobufMessage()
        message.string(2, "testing")
        XCTAssertEqual(message.encoded, [0x12, 0x07] + Array("testing".utf8))
        message = ProtobufMessage()
        message.integer(2, -1)  // an int64 of -1: ten bytes of two's complement
        XCTAssertEqual(message.encoded, [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        message = ProtobufMessage()
        message.float(2, 1.5)
        XCTAssertEqual(message.encoded, [0x15, 0x00, 0x00, 0xC0, 0x3F])
    }

    func testEventFileHoldsFramedRecordsOfTheScalars() throws {
        let folder = NSTemporaryDirectory() + "tensorboard-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            let log = try TensorBoardLog(folder: folder)
            log.scalars(["step": 7, "bpd": 3.5, "kl": .nan], step: 7)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        XCTAssertEqual(names.count, 1)
        XCTAssertTrue(names[0].hasPrefix("events.out.tfevents."))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/" + names[0])))

        var records: [[UInt8]] = []
        var position = 0
        while position < bytes.count {
            let header = Array(bytes[position..<position + 8])
            let length = header.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            XCTAssertEqual(Array(bytes[position + 8..<position + 12]), littleEndianBytes(maskedCRC32C(header)))
            let payload = Array(bytes[position + 12..<position + 12 + length])
            XCTAssertEqual(Array(bytes[position + 12 + length..<position + 16 + length]), littleEndianBytes(maskedCRC32C(payload)))
            records.append(payload)
            position += 16 + length
        }
        XCTAssertEqual(position, bytes.count)
        XCTAssertEqual(records.count, 2, "the file version, then one event of scalars")
        XCTAssertTrue(contains(records[0], Array("brain.Event:2".utf8)))
        // Event.step = 7, then Summary { Value { tag "bpd", simple_value 3.5 } }; NaN and "step" are left out.
        XCTAssertTrue(contains(records[1], [0x10, 0x07]))
        let value: [UInt8] = [0x0A, 0x03] + Array("bpd".utf8) + [0x15] + littleEndianBytes(Float(3.5).bitPattern)
        XCTAssertTrue(contains(records[1], [0x2A, UInt8(value.count + 2), 0x0A, UInt8(value.count)] + value))
        XCTAssertFalse(contains(records[1], Array("kl".utf8)))
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...haystack.count - needle.count).contains { Array(haystack[$0..<$0 + needle.count]) == needle }
    }
}
