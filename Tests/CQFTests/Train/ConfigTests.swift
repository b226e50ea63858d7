// The run's settings: defaults equal to MODEL.md's, a JSON file over them, KEY=VALUE overrides
// over that (integers stay integers), a one-line error naming the field for each bad setting,
// and every experiment file in configs/ loads and validates.
import XCTest
@testable import CQF

final class ConfigTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func file(_ json: String) throws -> String {
        let path = directory + "/config-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testDefaultsAreModelMDs() throws {
        let config = try Config.load(path: nil, overrides: [])
        XCTAssertEqual(config, Config())
        XCTAssertEqual(config.objective, .cqf)
        XCTAssertEqual(config.lambda_q, 100)
        XCTAssertEqual(config.lambda_gp, 100)
        XCTAssertEqual(config.max_logscale, 4)
        XCTAssertEqual(config.alpha, 0.05)
        XCTAssertEqual(config.lr, 0.002)
        XCTAssertEqual(config.beta1, 0.9)
        XCTAssertEqual(config.beta2, 0.999)
        XCTAssertEqual(config.nvp.scales, 1)
        XCTAssertEqual(config.nvp.blocks, 2)
        XCTAssertEqual(config.nvp.filters, 32)
        XCTAssertEqual(config.nvp.bn_eps, 1e-4)
        XCTAssertEqual(config.nvp.bn_momentum, 0.9)
        XCTAssertEqual(config.batch, 64)
        XCTAssertEqual(config.z, 32)
        XCTAssertEqual(config.first, 16)
        XCTAssertEqual(config.free_bits, 0)
        XCTAssertEqual(config.residual, true)
        XCTAssertEqual(config.iaf, false)
        XCTAssertEqual(config.large_d, false)
        XCTAssertEqual(config.disc, "residual")
        XCTAssertEqual(config.penalty, "wgan-gp")
        XCTAssertEqual(config.eval_k, 1)
        XCTAssertEqual(config.stageWidths, [32, 64, 128, 256])
    }

    func testStagesFollowTheImageSize() {
        XCTAssertEqual([32, 48, 64, 96].map { Config.stageCount(imageSize: $0) }, [4, 4, 5, 5])
        var config = Config()
        config.image_size = 64
        XCTAssertEqual(config.stageWidths, [32, 64, 128, 256, 256])
    }

    func testJSONFileOverlaysTheDefaults() throws {
        let path = try file(#"{"objective": "vae", "batch": 32, "lambda_q": 10.5, "nvp": {"blocks": 4}, "widths": [8, 16, 32, 64]}"#)
        let config = try Config.load(path: path, overrides: [])
        var expected = Config()
        expected.objective = .vae
        expected.batch = 32
        expected.lambda_q = 10.5
        expected.nvp.blocks = 4
        expected.widths = [8, 16, 32, 64]
        XCTAssertEqual(config, expected, "fields the file leaves out, nvp.filters among them, keep their defaults")
    }

    func testOverridesByDottedNameWinOverTheFile() throws {
        let path = try file(#"{"objective": "gan", "steps": 7, "nvp": {"scales": 3}}"#)
        let config = try Config.load(path: path, overrides: [
            ("objective", "vae"), ("nvp.scales", "2"), ("lambda_q", "10"), ("residual", "false"),
            ("widths", "16,32,64,128"), ("steps", "100"), ("nvp.bn_eps", "1e-3"), ("disc", "basic"),
        ])
        XCTAssertEqual(config.objective, .vae)
        XCTAssertEqual(config.nvp.scales, 2)
        XCTAssertEqual(config.lambda_q, 10)
        XCTAssertEqual(config.residual, false)
        XCTAssertEqual(config.widths, [16, 32, 64, 128])
        XCTAssertEqual(config.steps, 100)
        XCTAssertEqual(config.nvp.bn_eps, 1e-3)
        XCTAssertEqual(config.disc, "basic")
    }

    func testIntegersStayIntegersThroughOverridesAndJSON() throws {
        let config = try Config.load(path: nil, overrides: [("steps", "100"), ("nvp.filters", "16"), ("batch", "8"), ("seed", "3")])
        let tree = try JSONSerialization.jsonObject(with: Data(config.json.utf8)) as! [String: Any]
        XCTAssertEqual(tree["steps"] as? Int, 100)
        XCTAssertTrue(config.json.contains("\"steps\" : 100,"), "integers are written without a fraction:\n\(config.json)")
        XCTAssertTrue(config.json.contains("\"filters\" : 16,"))
        XCTAssertEqual(try JSONDecoder().decode(Config.self, from: Data(config.json.utf8)), config)
        let reread = try Config.load(path: file(config.json), overrides: [])
        XCTAssertEqual(reread, config, "config.json of a run loads back as the same config")
        assertConfigError([("steps", "2.5")], mentions: ["steps", "integer", "2.5"])
        assertConfigError([("widths", "16,32.5,64,128")], mentions: ["widths"])
        let fractional = try file(#"{"nvp": {"filters": 1.5}}"#)
        assertConfigError(path: fractional, [], mentions: ["nvp.filters", "integer"])
        assertConfigError([("batch", "many")], mentions: ["batch", "many"])
        assertConfigError([("residual", "yes")], mentions: ["residual", "yes"])
    }

    func testBadConfigsGiveOneLineNamingTheField() throws {
        let unknownInFile = try file(#"{"nvp": {"scale": 2}}"#)
        assertConfigError(path: unknownInFile, [], mentions: ["nvp.scale", unknownInFile])
        assertConfigError([("lamda_q", "10")], mentions: ["lamda_q"])
        assertConfigError([("nvp.depth", "3")], mentions: ["nvp.depth"])
        assertConfigError([("image_size", "40")], mentions: ["image_size", "40"])
        assertConfigError([("batch", "0")], mentions: ["batch", "0"])
        assertConfigError([("lambda_q", "-1")], mentions: ["lambda_q", "-1"])
        assertConfigError([("lambda_gp", "-0.5")], mentions: ["lambda_gp"])
        assertConfigError([("penalty", "foo")], mentions: ["penalty", "foo"])
        assertConfigError([("objective", "diffusion")], mentions: ["objective"])
        assertConfigError([("channels", "2")], mentions: ["channels"])
        assertConfigError([("widths", "16,32")], mentions: ["widths"])
        // Infinities would pass every range check, NaN fails them all: each is refused by name.
        assertConfigError([("lambda_q", "inf")], mentions: ["lambda_q", "finite", "inf"])
        assertConfigError([("lr", "nan")], mentions: ["lr", "finite", "nan"])
        assertConfigError([("stall_timeout", "inf")], mentions: ["stall_timeout", "finite"])
        // Sizes that would ask for unbounded memory.
        assertConfigError([("widths", "16,32,64,1000000")], mentions: ["widths", "1000000"])
        assertConfigError([("nvp.filters", "100000")], mentions: ["nvp.filters", "100000"])
        assertConfigError([("batch", "10000000")], mentions: ["batch", "10000000"])
        assertConfigError([("sample_grid", "1")], mentions: ["sample_grid", "2...1024"])
        assertConfigError([("top_prior", "uniform")], mentions: ["top_prior", "uniform"])
        assertConfigError([("precision", "f16")], mentions: ["precision", "f16", "bf16"])
        assertConfigError([("iaf", "true"), ("z", "3")], mentions: ["z", "widths", "iaf"])
        let wrongType = try file(#"{"batch": "sixty-four"}"#)
        assertConfigError(path: wrongType, [], mentions: ["batch"])
        let notJSON = try file("{batch: 64")
        assertConfigError(path: notJSON, [], mentions: [notJSON, "JSON"])
    }

    /// Every experiment of configs/ loads over the defaults and validates.
    func testEveryConfigInTheRepositoryValidates() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../configs").standardized.path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }.sorted()
        for required in ["fashion-mnist", "cifar10-gan", "cifar10-vae", "cifar10-cq", "cifar10-cqf", "cifar10-cqf-iaf", "cifar10-cqf-large-d",
                         "cifar10-cqf-scales2", "cifar10-mle", "cifar10-mle-scales4", "stl10-48", "stl10-96", "celeba-96", "lsun-64", "imagenet64",
                         "bench-a", "bench-b", "bench-c", "bench-d"] {
            XCTAssertTrue(names.contains(required + ".json"), "configs/\(required).json is missing")
        }
        for name in names {
            XCTAssertNoThrow(try Config.load(path: folder + "/" + name, overrides: []), "configs/\(name)")
        }
        // The residual architectures of Tables 2-5 draw the top stage from N(0, I) (Table 6's h ~ N(0, 1)).
        for name in names where !name.hasPrefix("bench-") && name != "fashion-mnist.json" {
            let config = try Config.load(path: folder + "/" + name, overrides: [])
            XCTAssertEqual(config.top_prior, config.residual && config.objective != .gan ? "standard" : "learned", "configs/\(name)")
        }
        let bench = try ["a", "b", "c", "d"].map { try Config.load(path: "\(folder)/bench-\($0).json", overrides: []) }
        XCTAssertEqual(bench.map(\.objective), [.cqf, .cqf, .cqf, .cqf])
        XCTAssertEqual(bench.map(\.residual), [true, false, true, true])
        XCTAssertEqual(bench.map(\.disc), ["residual", "basic", "residual", "residual"])
        XCTAssertEqual(bench.map { [$0.channels, $0.image_size, $0.batch] }, [[3, 32, 64], [3, 32, 64], [3, 64, 32], [1, 32, 64]])
    }

    func assertConfigError(path: String? = nil, _ overrides: [(key: String, value: String)], mentions: [String],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Config.load(path: path, overrides: overrides), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            for word in mentions {
                XCTAssertTrue(text.contains(word), "'\(text)' does not mention \(word)", file: file, line: line)
            }
        }
    }
}
