// metrics.jsonl: one JSON object per logged step, appended (a resumed run continues the file),
// flushed line by line so that a crash loses nothing already logged.
import Foundation

public final class MetricsLog {
    private let handle: FileHandle

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ConfigError("cannot create the metrics file \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ConfigError("cannot open the metrics file \(path) for writing") }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Appends one line; keys sorted so lines diff well.
    public func write(_ fields: [String: Double]) {
        let body = fields.keys.sorted().map { key -> String in
            let value = fields[key]!
            let text = value.isFinite ? (value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)") : "null"
            return "\"\(key)\": \(text)"
        }.joined(separator: ", ")
        handle.write(("{" + body + "}\n").data(using: .utf8)!)
    }
}
