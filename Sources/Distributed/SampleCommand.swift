// `Distributed sample`: images from a checkpoint's priors, as the .npz FID/IS tools read,
// streamed a chunk at a time, so that memory does not grow with --count.
import CQF
import Foundation

let sampleCommand = Command(
    name: "sample",
    summary: "generate images from a checkpoint into .npz (and a PNG grid)",
    usage: """
        usage: Distributed sample --checkpoint FILE --count N --out FILE.npz [--grid FILE.png] [--seed N]

          --checkpoint FILE  a checkpoint written by train
          --count N          how many images
          --out FILE.npz     key arr_0: uint8 (N, H, W, C), the layout FID/IS tools read
          --grid FILE.png    also a grid of the first min(N, 100) images
          --seed N           the noise (default 1); the same seed gives the same images
        """,
    run: { arguments in
        let path = try arguments.string("checkpoint") ?? { throw UsageError("sample: --checkpoint FILE is required") }()
        let count = try arguments.int("count", range: 1...10_000_000) ?? { throw UsageError("sample: --count N is required") }()
        let out = try arguments.string("out") ?? { throw UsageError("sample: --out FILE.npz is required") }()
        let grid = try arguments.string("grid")
        let seed = try arguments.int("seed") ?? 1
        try arguments.finish()
        guard out.hasSuffix(".npz") else { throw UsageError("sample: --out must name a .npz file, got '\(out)'") }
        Convolutions.kernels = DNNLConvolution(threads: ProcessInfo.processInfo.activeProcessorCount)
        let (model, _) = try loadModel(checkpoint: path, weights: .averaged)
        let c = model.config
        let writer = try NPZWriter(path: out)
        do {
            try writer.begin(name: "arr_0", descr: "|u1", shape: [count, c.image_size, c.image_size, c.channels])
            try model.sampleImages(count: count, seed: seed, progress: ProgressLine(total: count, unit: "images", label: "sample")) {
                try writer.append($0)
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        if let grid { try model.writeSampleGrid(path: grid, count: min(count, 100), seed: seed) }
        Console.error("sample: \(count) images to \(out)\(grid.map { " and a grid to \($0)" } ?? "")")
    }
)
