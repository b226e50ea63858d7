// `bench --data`: the data path's speed on one core (the packed loader with dequantisation,
// and `prepare` of a JPEG folder), printed as one JSON object per line and, when asked,
// recorded in the "## Data" section of a markdown file (docs/performance.md).
import CQF
import Foundation

/// Runs both data measurements, prints them, and rewrites the "## Data" section of
/// `recordPath` when it is given (the other sections are left as they are).
func runDataBench(recordPath: String? = nil) throws {
    let results = [try measureLoaderThroughput(), try measureFolderPrepareThroughput()]
    for result in results {
        print(String(format: "{\"bench\": \"data.%@\", \"images_per_s\": %.0f, \"images\": %d, \"seconds\": %.3f}",
                     result.name, result.imagesPerSecond, result.images, result.seconds))
    }
    guard let recordPath else { return }
    let date = ISO8601DateFormatter().string(from: Date()).prefix(10)
    let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let cpu = cpuInfo.components(separatedBy: "\n").first { $0.hasPrefix("model name") }?
        .components(separatedBy: ": ").last ?? "unknown CPU"
    var section = """
        ## Data

        `swift build -c release && .build/release/Distributed bench --data --record docs/performance.md`
        (`runDataBench` in Sources/Distributed/DataBench.swift), \(date), \(cpu),
        one thread on a machine shared with other builds. Targets: the loader at least 50,000
        images/s at 3x32x32, `prepare` of a JPEG folder at least 500 images/s per core.

        | what | images/s | images | seconds | setting |
        |---|---:|---:|---:|---|

        """
    for result in results {
        section += String(format: "| %@ | %.0f | %d | %.2f | %@ |\n", result.name, result.imagesPerSecond,
                          result.images, result.seconds, result.detail)
    }
    try replaceMarkdownSection(path: recordPath, heading: "## Data", with: section)
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
