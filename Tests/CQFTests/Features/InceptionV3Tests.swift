// pytorch-fid's Inception v3 against pytorch-fid's own modules: at the random weights and images
// of Tests/make_inception_fixtures.py, our pool features and logits must be what pytorch-fid
// computed (in float64); and a weights file with a missing or misshapen tensor must be refused
// with one line that names it.
import XCTest
@testable import CQF

final class InceptionV3Tests: XCTestCase {
    /// Max-norm error allowed, relative to each reference tensor's largest magnitude. Ours is
    /// float32 through 94 convolutions (Winograd among them) against float64; PyTorch's own
    /// float32 forward lies 3e-6 (features) and 1e-6 (logits) from the same references.
    static let tolerance = 1e-4

    static let fixture = try! SafeTensors.read(
        path: Bundle.module.resourceURL!.appendingPathComponent("Fixtures/inception_v3_fid.safetensors").path)
    static let directory = NSTemporaryDirectory() + "inception-tests-\(UUID().uuidString)"

    /// pytorch-fid's whole state dict (24M values) under its own names: the fixture's stored
    /// tensors, and its generated ones regenerated from Philox as the script drew them.
    static let stateDict: [(name: String, tensor: Tensor)] = {
        let philox = Philox(seed: UInt64(fixture.metadata["generated_seed"]!)!,
                            stream: UInt64(fixture.metadata["generated_stream"]!)!)
        return fixture.names.compactMap { key -> (String, Tensor)? in
            if key.hasPrefix("param.") { return (String(key.dropFirst(6)), try! fixture.tensor(key)) }
            guard key.hasPrefix("generated.") else { return nil }
            // [counter, bound, shape...]: values (2u - 1) * bound, u the uniforms of counter a = counter.
            let spec = try! fixture.floats(key)
            let tensor = Tensor(uninitialized: spec.dropFirst(2).map { Int($0) })
            philox.fillUniform(tensor.data, count: tensor.count, a: UInt64(spec[0]), b: 0)
            for i in 0..<tensor.count { tensor.data[i] = (2 * tensor.data[i] - 1) * spec[1] }
            return (String(key.dropFirst(10)), tensor)
        }
    }()

    override class func setUp() {
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `tensors` as a safetensors file in the test directory and returns its path.
    func weightsFile(_ name: String, _ tensors: [(name: String, shape: [Int], tensor: Tensor)]) throws -> String {
        let path = Self.directory + "/\(name).safetensors"
        try SafeTensors.write(path: path, tensors: tensors.map { ($0.name, $0.shape, UnsafePointer($0.tensor.data)) }, metadata: [:])
        return path
    }

    var completeStateDict: [(name: String, shape: [Int], tensor: Tensor)] {
        Self.stateDict.map { ($0.name, $0.tensor.shape, $0.tensor) }
    }

    func testPoolFeaturesAndLogitsMatchPytorchFID() throws {
        XCTAssertEqual(Self.stateDict.count, 94 * 5 + 2, "94 BasicConv2d (conv weight and 4 batch-norm tensors) and fc")
        let network = try InceptionV3(contentsOf: try weightsFile("complete", completeStateDict))
        XCTAssertEqual([network.name, "\(network.featureCount)", "\(network.classCount)"], ["inception-v3-fid", "2048", "1008"])
        // Three gray 28x28 and two RGB 64x64 images in passes of two: resizing, gray to RGB and the split into passes.
        network.maximumBatch = 2
        var report: [String] = []
        for kind in ["gray", "rgb"] {
            let (features, logits) = network.evaluate(try Self.fixture.tensor("images.\(kind)"))
            for (what, ours) in [("features", features), ("logits", logits)] {
                let reference = try Self.fixture.tensor("\(what).\(kind)")
                XCTAssertEqual(ours.shape, reference.shape, "\(what).\(kind)")
                let scale = largestMagnitude(reference.array)
                let error = largestDifference(ours.array, reference.array).value
                XCTAssertLessThanOrEqual(error, Self.tolerance * scale, "\(what).\(kind): error \(error) at scale \(scale)")
                report.append("\(what).\(kind) \(String(format: "%.1e", error / scale))")
            }
        }
        print("InceptionV3Tests: worst relative errors \(report.joined(separator: ", "))")
    }

    func testRefusesMissingTensorNamingIt() throws {
        let missing = "Mixed_6c.branch7x7dbl_3.bn.running_var"
        let path = try weightsFile("missing", completeStateDict.filter { $0.name != missing })
        assertRefused(path, mentioning: ["'\(missing)'", "missing", "[160]"])
    }

    /// A 7x1 kernel where a 1x7 belongs holds the same number of values: the shape, not the count, must be checked.
    func testRefusesMisshapenTensorNamingIt() throws {
        let misshapen = "Mixed_6c.branch7x7dbl_3.conv.weight"
        let path = try weightsFile("misshapen", completeStateDict.map {
            $0.name == misshapen ? ($0.name, [160, 160, 7, 1], $0.tensor) : $0
        })
        assertRefused(path, mentioning: ["'\(misshapen)'", "[160, 160, 7, 1]", "[160, 160, 1, 7]"])
    }

    func assertRefused(_ path: String, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try InceptionV3(contentsOf: path), file: file, line: line) { error in
            let message = "\(error)"
            for part in [path] + parts {
                XCTAssertTrue(message.contains(part), "'\(message)' does not mention \(part)", file: file, line: line)
            }
            XCTAssertFalse(message.contains("\n"), "'\(message)' is not one line", file: file, line: line)
        }
    }
}
