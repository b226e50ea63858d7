// The progress of long work that is not a training run (`eval`, `sample`, `prepare`, `score`,
// `classifier`): done/total, rate and ETA on standard error, so that the JSON or summary on
// standard output stays clean. On a terminal one line is rewritten in place (\r); in a log file
// (not a terminal) a plain line is written at every 10%, so a Slurm log gets ten lines, not
// thousands. Only rank 0 should show it: the others pass `enabled: false`.
import Foundation

public final class ProgressLine {
    public let label: String
    public let unit: String
    public let total: Int
    public private(set) var done = 0
    private let enabled: Bool
    private let terminal: Bool
    private let write: (String) -> Void
    private let started = Date()
    /// When the terminal line was last drawn: it is redrawn at most 4 times a second.
    private var drawn = Date.distantPast
    /// The last tenth written as a plain line.
    private var tenthsWritten = 0
    private var status: String?

    /// `write` receives the text as it would go to the stream (tests capture it): by default
    /// standard error, and `terminal` says whether that is a terminal.
    public init(total: Int, unit: String, label: String, enabled: Bool = true,
                terminal: Bool = isatty(STDERR_FILENO) != 0,
                write: @escaping (String) -> Void = { FileHandle.standardError.write($0.data(using: .utf8)!) }) {
        self.total = max(total, 0)
        self.unit = unit
        self.label = label
        self.enabled = enabled
        self.terminal = terminal
        self.write = write
    }

    /// Counts `count` more units done; `status` (a loss, say) is shown after the rate until replaced.
    public func advance(by count: Int = 1, status: String? = nil) {
        done = min(done + count, total)
        if let status { self.status = status }
        guard enabled else { return }
        if terminal {
            guard Date().timeIntervalSince(drawn) >= 0.25 || done == total else { return }
            drawn = Date()
            write("\r" + line + "\u{1B}[K")
        } else {
            let tenths = total == 0 ? 10 : done * 10 / total
            guard tenths > tenthsWritten else { return }
            tenthsWritten = tenths
            write(line + "\n")
        }
    }

    /// Writes `message` (a warning) on a line of its own, which on a terminal would otherwise run
    /// into the progress line, and draws the progress again below it. Written even when the
    /// progress is not shown.
    public func interject(_ message: String) {
        guard enabled && terminal else { write(message + "\n"); return }
        write("\r\u{1B}[K" + message + "\n\r" + line + "\u{1B}[K")
    }

    /// Ends the line: on a terminal, the final state and a newline; in a log, the 100% line if
    /// the work ended short of it (a last batch that never came, an early stop).
    public func finish() {
        guard enabled else { return }
        if terminal {
            write("\r" + line + "\u{1B}[K\n")
        } else if tenthsWritten < 10 {
            tenthsWritten = 10
            write(line + "\n")
        }
    }

    /// "eval: 3000/10000 images (30%) | 512.3 images/s | ETA 14s | loss 0.31"
    var line: String {
        let seconds = Date().timeIntervalSince(started)
        let rate = Double(done) / max(seconds, 1e-9)
        let percent = total == 0 ? 100 : done * 100 / total
        let remaining = done == total ? "done in \(formatDuration(seconds))" : "ETA \(formatDuration(Double(total - done) / rate))"
        var text = "\(label): \(done)/\(total) \(unit) (\(percent)%) | " + String(format: rate < 100 ? "%.1f %@/s" : "%.0f %@/s", rate, unit) + " | \(remaining)"
        if let status { text += " | " + status }
        return text
    }
}

/// 3725 s -> "1h02m05s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
        : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
}
