// The safetensors reader and writer: round trips, files written by numpy (and by hand, with
// dtypes we only skip), our files read by numpy alone, and one clear error for each way a
// file can be truncated or corrupt.
import XCTest
@testable import CQF

final class SafeTensorsTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "safetensors-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `tensors` (name, shape, values) to a new file in the test directory and returns its path.
    func write(_ name: String, _ tensors: [(String, [Int], [Float])], metadata: [String: String] = [:]) throws -> String {
        let path = directory + "/" + name
        let values = tensors.map { Tensor(shape: $0.1, $0.2) }
        try withExtendedLifetime(values) {
            try SafeTensors.write(path: path, tensors: zip(tensors, values).map { ($0.0, $0.1, UnsafePointer($1.data)) }, metadata: metadata)
        }
        return path
    }

    func testRoundTripKeepsNamesShapesValuesOrderAndMetadata() throws {
        let weight = (0..<24).map { Float($0) * 0.25 - 3 }
        let path = try write("round.safetensors", [
            ("encoder.stage0.conv1.weight", [2, 3, 2, 2], weight),
            ("scalar", [], [Float.pi]),
            ("empty", [0, 3], []),
            ("extremes", [4], [.greatestFiniteMagnitude, -.leastNonzeroMagnitude, .infinity, -0.0]),
        ], metadata: ["step": "12", "config": "{\"a\": [1, 2]}\nsecond line", "unicode": "é→∞"])

        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"), "the temporary file is renamed away")
        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.names, ["encoder.stage0.conv1.weight", "scalar", "empty", "extremes"])
        XCTAssertEqual(file.metadata, ["step": "12", "config": "{\"a\": [1, 2]}\nsecond line", "unicode": "é→∞"])
        XCTAssertEqual(try file.info("encoder.stage0.conv1.weight").shape, [2, 3, 2, 2])
        XCTAssertEqual(try file.floats("encoder.stage0.conv1.weight"), weight)
        XCTAssertEqual(try file.tensor("scalar").shape, [])
        XCTAssertEqual(try file.floats("scalar"), [Float.pi])
        XCTAssertEqual(try file.floats("empty"), [])
        let extremes = try file.floats("extremes")
        XCTAssertEqual(extremes.map(\.bitPattern), [Float.greatestFiniteMagnitude, -.leastNonzeroMagnitude, .infinity, -0.0].map(\.bitPattern))

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "the header is padded so the data starts 8-aligned")
        XCTAssertEqual(bytes.count, 8 + headerLength + (24 + 1 + 0 + 4) * 4)
    }

    func testWritingTheSameTensorsTwiceGivesTheSameBytes() throws {
        let tensors: [(String, [Int], [Float])] = [("b", [2], [1, 2]), ("a", [1], [3])]
        let first = try write("one.safetensors", tensors, metadata: ["x": "1", "y": "2"])
        let second = try write("two.safetensors", tensors, metadata: ["y": "2", "x": "1"])
        XCTAssertEqual(FileManager.default.contents(atPath: first), FileManager.default.contents(atPath: second))
    }

    func testOverwritingReplacesTheFile() throws {
        _ = try write("same.safetensors", [("a", [3], [1, 2, 3])])
        let path = try write("same.safetensors", [("b", [1], [7])])
        XCTAssertEqual(try SafeTensors.read(path: path).names, ["b"])
    }

    func testWriterRefusesDuplicateAndReservedNames() throws {
        XCTAssertThrowsError(try write("dup.safetensors", [("a", [1], [1]), ("a", [1], [2])])) { error in
            XCTAssertTrue("\(error)".contains("'a'"), "\(error)")
        }
        XCTAssertThrowsError(try write("reserved.safetensors", [("__metadata__", [1], [1])]))
    }

    /// A file laid out by hand: an I64, a U8 and an F64 tensor around an F32 one, keys in any order.
    func testReadsHandBuiltFileAndSkipsOtherDtypes() throws {
        var data = Data()
        data.append(contentsOf: [Int64(-5), 7].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })   // I64 [2], 16 bytes
        data.append(contentsOf: [UInt8(1), 2, 3])                                                            // U8 [3], 3 bytes
        data.append(contentsOf: [Float(1.5), -2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })  // F32 [1, 2], 8 bytes
        data.append(contentsOf: withUnsafeBytes(of: Double(0.125).bitPattern.littleEndian, Array.init))      // F64 [], 8 bytes
        let header = """
            {"weight":{"dtype":"F32","shape":[1,2],"data_offsets":[19,27]},"labels":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},\
            "bytes":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},"scale":{"dtype":"F64","shape":[],"data_offsets":[27,35]},\
            "__metadata__":{"format":"pt"}}
            """
        let path = directory + "/hand.safetensors"
        try fileBytes(header: header, data: data).write(to: URL(fileURLWithPath: path))

        let file = try SafeTensors.read(path: path)
        XCTAssertEqual(file.names, ["labels", "bytes", "weight", "scale"])
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(try file.floats("weight"), [1.5, -2])
        XCTAssertEqual(try file.info("labels").dtype, .i64)
        XCTAssertEqual(try file.info("scale").shape, [])
        assertThrowsOneSentence(try file.floats("scale"), mentions: ["'scale'", path, "F64", "expected F32"])
    }

    func testReadsFileWrittenByNumpy() throws {
        let path = directory + "/numpy.safetensors"
        // The header is written the way the `safetensors` package does: compact JSON, spaces to 8.
        try runPython("""
            import json, struct, sys, numpy as np
            rng = np.random.default_rng(7)
            tensors = {"conv.weight": rng.standard_normal((4, 3, 3, 3)).astype("<f4"),
                       "ids": np.arange(5, dtype="<i8"), "bias": np.linspace(-1, 1, 4, dtype="<f4"),
                       "mask": np.array([0, 1, 1], dtype="u1"), "double": np.array([[0.5, 0.25]], dtype="<f8")}
            dtypes = {"float32": "F32", "int64": "I64", "uint8": "U8", "float64": "F64"}
            header, blobs, offset = {"__metadata__": {"writer": "numpy"}}, [], 0
            for name, array in tensors.items():
                blob = array.tobytes()
                header[name] = {"dtype": dtypes[str(array.dtype)], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
                blobs.append(blob)
                offset += len(blob)
            text = json.dumps(header, separators=(",", ":")).encode()
            text += b" " * (-len(text) % 8)
            with open(sys.argv[1], "wb") as f:
                f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
            print(json.dumps({"conv.weight": tensors["conv.weight"].ravel().tolist(), "bias": tensors["bias"].tolist()}))
            """, arguments: [path]) { output in
            let expected = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [Double]]
            let file = try SafeTensors.read(path: path)
            XCTAssertEqual(file.metadata, ["writer": "numpy"])
            XCTAssertEqual(try file.info("conv.weight").shape, [4, 3, 3, 3])
            XCTAssertEqual(try file.floats("conv.weight"), expected["conv.weight"]!.map(Float.init))
            XCTAssertEqual(try file.floats("bias"), expected["bias"]!.map(Float.init))
            XCTAssertEqual(try file.info("ids").dtype, .i64)
            XCTAssertEqual(try file.info("mask").dtype, .u8)
            XCTAssertEqual(try file.info("double").shape, [1, 2])
        }
    }

    func testNumpyAloneReadsOurFile() throws {
        let values = (0..<30).map { Float($0) / 7 - 2 }
        let path = try write("ours.safetensors", [("decoder.out.weight", [2, 3, 5], values), ("logsigma", [], [-0.5])],
                             metadata: ["step": "3", "config": "{\"batch\": 64}"])
        // numpy and the standard library only: no project code reads the file.
        try runPython("""
            import json, struct, sys, numpy as np
            raw = open(sys.argv[1], "rb").read()
            n = struct.unpack("<Q", raw[:8])[0]
            header = json.loads(raw[8:8 + n])
            data = raw[8 + n:]
            out = {"metadata": header.pop("__metadata__")}
            for name, info in header.items():
                assert info["dtype"] == "F32", info
                begin, end = info["data_offsets"]
                out[name] = {"shape": info["shape"], "values": np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"]).ravel().tolist()}
            try:  # the reference reader too, where it is installed
                from safetensors.numpy import load_file
                loaded = load_file(sys.argv[1])
                assert all(np.array_equal(loaded[k], np.array(out[k]["values"], dtype="<f4").reshape(out[k]["shape"])) for k in loaded)
            except ImportError:
                pass
            print(json.dumps(out))
            """, arguments: [path]) { output in
            let read = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            XCTAssertEqual(read["metadata"] as? [String: String], ["step": "3", "config": "{\"batch\": 64}"])
            let weight = read["decoder.out.weight"] as! [String: Any]
            XCTAssertEqual(weight["shape"] as? [Int], [2, 3, 5])
            XCTAssertEqual((weight["values"] as! [Double]).map(Float.init), values)
            let logsigma = read["logsigma"] as! [String: Any]
            XCTAssertEqual(logsigma["shape"] as? [Int], [])
            XCTAssertEqual((logsigma["values"] as! [Double]).map(Float.init), [-0.5])
        }
    }

    func testTruncatedAndCorruptFilesGiveOneSentenceNamingTheFile() throws {
        let good = try write("good.safetensors", [("a", [2, 2], [1, 2, 3, 4]), ("b", [3], [5, 6, 7])], metadata: ["k": "v"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        func corrupt(_ name: String, _ data: Data, mentions: [String], line: UInt = #line) throws {
            let path = directory + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            assertThrowsOneSentence(try SafeTensors.read(path: path), mentions: [path] + mentions, line: line)
        }
        try corrupt("empty.safetensors", Data(), mentions: ["8-byte header length", "0 bytes"])
        try corrupt("short.safetensors", bytes.prefix(5), mentions: ["8-byte header length"])
        try corrupt("header-cut.safetensors", bytes.prefix(8 + headerLength / 2), mentions: ["header length \(headerLength)", "truncated"])
        try corrupt("data-cut.safetensors", bytes.prefix(bytes.count - 4), mentions: ["'b'", "data_offsets", "truncated"])
        try corrupt("trailing.safetensors", bytes + Data([0, 0, 0, 0]), mentions: ["cover 28 data bytes", "32"])
        var length = bytes
        length[7] = 0x7f
        try corrupt("length.safetensors", length, mentions: ["exceeds"])
        try corrupt("json.safetensors", fileBytes(header: "{\"a\": {\"dtype\": \"F32\",", data: Data()), mentions: ["JSON object"])
        try corrupt("array.safetensors", fileBytes(header: "[1, 2]", data: Data()), mentions: ["JSON object"])
        try corrupt("dtype.safetensors", fileBytes(header: #"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, data: Data(count: 16)),
                    mentions: ["'a'", "F128", "expected one of"])
        try corrupt("size.safetensors", fileBytes(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Data(count: 8)),
                    mentions: ["'a'", "needs 3 x 4 bytes"])
        try corrupt("range.safetensors", fileBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: Data(count: 8)),
                    mentions: ["'a'", "outside"])
        try corrupt("overlap.safetensors", fileBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Data(count: 8)),
                    mentions: ["'b'", "overlap"])
        try corrupt("gap.safetensors", fileBytes(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Data(count: 8)),
                    mentions: ["'a'", "expected 0"])
        try corrupt("fields.safetensors", fileBytes(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: Data(count: 4)),
                    mentions: ["'a'", "integers"])
        try corrupt("metadata.safetensors", fileBytes(header: #"{"__metadata__":{"step":3}}"#, data: Data()), mentions: ["__metadata__"])
        assertThrowsOneSentence(try SafeTensors.read(path: directory + "/missing.safetensors"), mentions: ["missing.safetensors", "Cannot read"])
        assertThrowsOneSentence(try SafeTensors.read(path: good).floats("c"), mentions: [good, "'c'"])
    }

    // MARK: helpers

    /// 8-byte little-endian length, `header` padded with spaces to a multiple of 8, then `data`.
    func fileBytes(header: String, data: Data) -> Data {
        var text = Data(header.utf8)
        text.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - text.count % 8) % 8))
        return withUnsafeBytes(of: UInt64(text.count).littleEndian) { Data($0) } + text + data
    }
}

/// Asserts that `expression` throws an error whose description is one line (a sentence ending
/// in a full stop) containing each of `mentions`.
func assertThrowsOneSentence<T>(_ expression: @autoclosure () throws -> T, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        let text = "\(error)"
        XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
        XCTAssertTrue(text.hasSuffix("."), "not a sentence: \(text)", file: file, line: line)
        for word in mentions {
            XCTAssertTrue(text.contains(word), "'\(text)' does not mention \(word)", file: file, line: line)
        }
    }
}
