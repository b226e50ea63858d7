// Memory: it stays flat over training (200 steps of a small conv net with the gradient
// penalty and Adamax leave exactly the same bytes in live tensor storages after step 200 as
// after step 20, and the resident size grows by less than 8 MB between them: room for the
// allocator's bookkeeping, while keeping even 50 KB of each of the 180 steps would exceed it);
// a recorded graph keeps only what its backward rules read; large buffers are reused by size.
import XCTest
@testable import CQF

final class MemoryTests: XCTestCase {
    func testTwoHundredTrainingStepsKeepMemoryFlat() throws {
        let parameters = ParameterSet()
        var random = TestRandom(seed: 11)
        let conv1 = parameters.declare("conv1.weight", shape: [16, 3, 3, 3], values: random.tensor([432], in: -0.2...0.2).array)
        let bias1 = parameters.declare("conv1.bias", shape: [16], values: Array(repeating: 0, count: 16))
        let conv2 = parameters.declare("conv2.weight", shape: [16, 16, 3, 3], values: random.tensor([2304], in: -0.1...0.1).array)
        let dense = parameters.declare("dense.weight", shape: [1, 16], values: random.tensor([16], in: -0.3...0.3).array)
        parameters.build()
        let optimizer = Adamax(count: parameters.count)

        func discriminator(_ x: Tensor) -> Tensor {
            let h = relu(conv2d(x, conv1.tensor, padding: 1) + bias1.tensor.reshaped(to: [1, 16, 1, 1]))
            let g = globalAveragePool(leakyRelu(conv2d(h, conv2.tensor, stride: 2, padding: 1)))
            return matmul(g, dense.tensor, transposeB: true)
        }

        /// One discriminator step on fresh inputs; everything it makes is released when it returns.
        func step() {
            let real = random.tensor([8, 3, 16, 16]), fake = random.tensor([8, 3, 16, 16])
            let xhat = (real + random.tensor([8, 1, 1, 1], in: 0...1) * (fake - real)).requiringGrad()
            let inputGradient = grad(of: discriminator(xhat).sum(), wrt: [xhat], createGraph: true)[0]
            let penalty = square(sqrt(square(inputGradient).sum(alongAxes: [1, 2, 3])) - 1).mean()
            let loss = softplus(-discriminator(real)).mean() + softplus(discriminator(fake)).mean() + 10 * penalty
            parameters.storeGradients(grad(of: loss, wrt: parameters.tensors))
            optimizer.update(parameters)
        }

        var (liveAt20, residentAt20) = (0, 0)
        for n in 1...200 {
            step()
            if n == 20 { (liveAt20, residentAt20) = (Storage.liveBytes.current, try residentBytes()) }
        }
        let (liveAt200, residentAt200) = (Storage.liveBytes.current, try residentBytes())
        XCTAssertEqual(liveAt200, liveAt20, "tensor storage after step 200 differs from after step 20")
        XCTAssertLessThan(residentAt200 - residentAt20, 8 << 20,
                          "resident size grew from \(residentAt20 >> 10) KB at step 20 to \(residentAt200 >> 10) KB at step 200")
        print("MemoryTests: live tensor bytes \(liveAt20) -> \(liveAt200), resident \(residentAt20 >> 10) KB -> \(residentAt200 >> 10) KB")
    }

    /// A recorded graph keeps only the values its backward rules read: a chain of additions and
    /// products by constants keeps none of its activations, exp keeps its output (its own
    /// derivative), a convolution with a constant weight keeps nothing of its input. The
    /// gradients through them stay right.
    func testGraphKeepsOnlyWhatBackwardRulesRead() {
        var random = TestRandom(seed: 3)
        let x = random.tensor([4, 8, 32, 32]).requiringGrad()
        let activation = x.count * 4
        let weight = random.tensor([8, 8, 3, 3], in: -0.1...0.1)

        var before = Storage.liveBytes.current
        let affine = (((x + 1) * 3 - 2) * 0.5).sum()
        XCTAssertLessThan(Storage.liveBytes.current - before, 1024, "the affine chain kept an activation")
        XCTAssertEqual(grad(of: affine, wrt: [x])[0].array, Array(repeating: 1.5, count: x.count))

        before = Storage.liveBytes.current
        let exponential = exp(x).sum()
        XCTAssertEqual(Storage.liveBytes.current - before, activation + 4, "exp should keep its output alone")
        XCTAssertEqual(grad(of: exponential, wrt: [x])[0].array, exp(x).array)

        before = Storage.liveBytes.current
        let convolved = conv2d(x, weight, padding: 1).sum()
        XCTAssertLessThan(Storage.liveBytes.current - before, 1024, "a convolution by a constant kept its input's copy")
        let expected = conv2dInputGradient(Tensor(shape: [4, 8, 32, 32], repeating: 1), weight,
                                           geometry: convGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: (1, 1)))
        XCTAssertEqual(grad(of: convolved, wrt: [x])[0].array, expected.array)
    }

    /// A large buffer freed is handed out again for the next request of its exact size (no page
    /// faults, no zeroing by the kernel), not for another size; `trim` gives it back.
    func testLargeBuffersAreReusedBySize() {
        let count = BufferPool.threshold / 4 + 7
        var first: Storage? = Storage(count: count)
        let address = first!.pointer
        first = nil
        let other = Storage(count: count + 1)
        XCTAssertNotEqual(other.pointer, address, "a buffer was reused for another size")
        let same = Storage(count: count)
        XCTAssertEqual(same.pointer, address, "a freed buffer of the same size was not reused")
    }

    /// The process's resident set: the second field of /proc/self/statm, in pages.
    func residentBytes() throws -> Int {
        let statm = "/proc/self/statm"
        guard FileManager.default.fileExists(atPath: statm) else { throw machineLacks("a /proc file system (\(statm))") }
        let text = try String(contentsOfFile: statm, encoding: .utf8)
        let fields = text.split(separator: " ")
        let pages = try XCTUnwrap(fields.count > 1 ? Int(fields[1]) : nil, "\(statm) holds no resident page count: \(text)")
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
