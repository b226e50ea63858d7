// `eval`'s bounds against the PyTorch twin: bits per dimension from the ELBO and from the
// importance-weighted bound with K > 1, on the fixture's six images in batches of four (the
// second short), f on its running averages, with the dequantisation and latent noise that our
// evaluation draws and Tests/make_model_fixtures.py handed to the twin's eval_nll.
import XCTest
@testable import CQF

final class TwinEvaluationTests: XCTestCase {
    func testBitsPerDimensionMatchTheTwin() throws {
        for name in TwinFixture.names {
            let fixture = try TwinFixture(name)
            let model = try fixture.model()
            let images = FixtureImages(try fixture.file.tensor("eval.images"))
            let k = Int(fixture.file.metadata["eval_k"]!)!
            XCTAssertGreaterThan(k, 1, "\(name): the fixture's K must exercise the importance-weighted bound")
            let (bpd, bpdIW) = (Double(try fixture.file.floats("eval.bpd")[0]), Double(try fixture.file.floats("eval.bpd_iw")[0]))
            XCTAssertLessThan(bpdIW, bpd, "\(name): the twin's bound with K = \(k) should be tighter than its ELBO")

            let result = try model.evaluate(images, samples: k, limit: nil, batch: 4, communicator: SingleProcess())
            XCTAssertEqual(result.images, images.count)
            let errors = [assertRelativeError(result.bpd, bpd, below: 1e-6, "\(name): bpd (the ELBO)"),
                          assertRelativeError(result.bpd_iw, bpdIW, below: 1e-6, "\(name): bpd_iw, K = \(k)")]

            // One sample: the bound is the ELBO, which uses the first of the K samples.
            let single = try model.evaluate(images, samples: 1, limit: nil, batch: 4, communicator: SingleProcess())
            XCTAssertEqual(single.bpd_iw, single.bpd, "\(name): K = 1")
            XCTAssertEqual(single.bpd, result.bpd, "\(name): the ELBO with K = 1 and with K = \(k)")

            // --limit 4: the first batch alone, against the twin's per-image values.
            let limited = try model.evaluate(images, samples: k, limit: 4, batch: 4, communicator: SingleProcess())
            let meanOfFirstFour = { (key: String) in try fixture.file.floats(key).prefix(4).map(Double.init).reduce(0, +) / 4 }
            XCTAssertEqual(limited.images, 4)
            assertRelativeError(limited.bpd, bitsPerDimension(nll: try meanOfFirstFour("eval.nll.k1"), dimensions: images.shape.byteCount),
                                below: 1e-6, "\(name): bpd of the first 4 images")
            assertRelativeError(limited.bpd_iw, bitsPerDimension(nll: try meanOfFirstFour("eval.nll.k\(k)"), dimensions: images.shape.byteCount),
                                below: 1e-6, "\(name): bpd_iw of the first 4 images")
            print("TwinEvaluationTests \(name): bpd \(result.bpd), bpd_iw \(result.bpd_iw) (K = \(k)); relative errors \(errors)")
        }
    }
}

/// The fixture's images (N, C, H, W), stored as floats 0...255, as a dataset.
private struct FixtureImages: ImageDataset {
    let shape: ImageShape
    let count: Int
    let bytes: [UInt8]

    init(_ images: Tensor) {
        shape = ImageShape(channels: images.shape[1], height: images.shape[2], width: images.shape[3])
        count = images.shape[0]
        bytes = images.array.map { UInt8($0) }
    }

    func copyImage(_ index: Int, into destination: UnsafeMutablePointer<UInt8>) {
        let size = shape.byteCount
        bytes.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + index * size, count: size) }
    }
}
