// `Distributed bench --inception`: images/s of pytorch-fid's Inception v3 forward pass (pool
// features and logits) in our engine, on uniform-noise images, for launch/compare-inception.sh
// to set beside pytorch-fid's own. Weights do not change the work, so any file with pytorch-fid's
// names and shapes serves (the script makes one of random weights).
import CQF
import Foundation

/// Times `steps` forward passes of `batch` images of `size`x`size` (3 channels) after one
/// warm-up pass (which also builds oneDNN's plans) on the wall clock, and prints one JSON line:
/// {"op", "batch", "chunk" (images per pass inside the network, as `score` runs it), "size",
/// "threads", "steps", "images_per_s" (batch / median time), "batch_s" (that median),
/// "fastest_batch_s", "peak_rss_mb"}.
func runInceptionBench(weights: String, batch: Int, size: Int, steps: Int, threads: Int) throws {
    let network = try InceptionV3(contentsOf: weights)
    let images = Tensor(shape: [batch, 3, size, size], repeating: 0)
    Philox(seed: 1, stream: 0).fillUniform(images.data, count: images.count, a: 0, b: 0)
    let stopwatch = Stopwatch(threadCPUTime: false)
    _ = network.evaluate(images)
    let times = (0..<steps).map { _ in
        let start = stopwatch.now()
        _ = network.evaluate(images)
        return stopwatch.now() - start
    }.sorted()
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    printJSON([("op", "inception_forward"), ("batch", batch), ("chunk", network.maximumBatch), ("size", size), ("threads", threads), ("steps", steps),
               ("images_per_s", Double(batch) / times[steps / 2]), ("batch_s", times[steps / 2]),
               ("fastest_batch_s", times[0]), ("peak_rss_mb", Double(usage.ru_maxrss) / 1024)])
}
