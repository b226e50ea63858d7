// `bench --data`: the data path's speed on one core (the packed loader with dequantisation,
// and `prepare` of a JPEG folder and of an lmdb of WebP images), printed as one JSON object per
// line and, when asked, recorded in the "## Data" section of a markdown file
// (docs/performance.md). Under `mpirun -n P`, `prepare` is shared out over the ranks (the
// loader, a per-core figure, is left out) and the section is "## Data over P ranks".
import CQF
import Foundation

/// Runs the data measurements, prints them, and rewrites the "## Data" section of
/// `recordPath` when it is given (the other sections are left as they are).
func runDataBench(recordPath: String? = nil) throws {
    let communicator = try startCommunicator(stallTimeout: 3600)
    let ranks = communicator.size
    let results: [ThroughputResult]
    do {
        results = (ranks == 1 ? [try measureLoaderThroughput()] : [])
            + [try measureFolderPrepareThroughput(over: communicator), try measureLSUNPrepareThroughput(over: communicator)]
    } catch {
        // One rank's failure ends the job at once, never a hang of the others.
        if ranks > 1 { communicator.abort("\(error)", code: 2) }
        throw error
    }
    finishCommunicator(communicator)
    guard communicator.isRoot else { return }
    for result in results {
        print(String(format: "{\"bench\": \"data.%@\", \"images_per_s\": %.0f, \"images\": %d, \"seconds\": %.3f, \"ranks\": %d}",
                     result.name, result.imagesPerSecond, result.images, result.seconds, ranks))
    }
    guard let recordPath else { return }
    let date = ISO8601DateFormatter().string(from: Date()).prefix(10)
    let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let cpu = cpuInfo.components(separatedBy: "\n").first { $0.hasPrefix("model name") }?
        .components(separatedBy: ": ").last ?? "unknown CPU"
    let heading = ranks == 1 ? "## Data" : "## Data over \(ranks) ranks"
    var section = """
        \(heading)

        `swift build -c release && \(ranks == 1 ? "" : "mpirun -n \(ranks) ").build/release/Distributed bench --data --record docs/performance.md`
        (`runDataBench` in Sources/Distributed/DataBench.swift), \(date), \(cpu),
        one thread per rank. Targets: the loader at least 50,000 images/s at 3x32x32, `prepare`
        of a JPEG folder at least 500 images/s per core, and P ranks close to P times one's.

        | what | images/s | images | seconds | setting |
        |---|---:|---:|---:|---|

        """
    for result in results {
        section += String(format: "| %@ | %.0f | %d | %.2f | %@ |\n", result.name, result.imagesPerSecond,
                          result.images, result.seconds, result.detail)
    }
    try replaceMarkdownSection(path: recordPath, heading: heading, with: section)
}

/// Replaces the section that starts at `heading` (up to the next "## " heading) in the file at
/// `path`, or appends it; creates the file when absent.
private func replaceMarkdownSection(path: String, heading: String, with section: String) throws {
    let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Performance\n"
    var lines = existing.components(separatedBy: "\n")
    let newLines = section.trimmingCharacters(in: .newlines).components(separatedBy: "\n") + [""]
    if let start = lines.firstIndex(of: heading) {
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.count
        lines.replaceSubrange(start..<end, with: newLines)
    } else {
        if lines.last == "" { lines.removeLast() }
        lines += [""] + newLines
    }
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
}
