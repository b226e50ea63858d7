import Foundation

/// A bad command line or bad input: printed as one `error: ...` line, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// The arguments of one subcommand: `--flag`, `--option VALUE` and `KEY=VALUE` overrides.
/// Options are consumed as they are read, so `finish()` can refuse any that nobody asked for.
struct Arguments {
    private var remaining: [String]
    let command: String

    init(command: String, _ arguments: [String]) {
        self.command = command
        remaining = arguments
    }

    /// True when `--name` is present (and removes it).
    mutating func flag(_ name: String) -> Bool {
        guard let i = remaining.firstIndex(of: "--\(name)") else { return false }
        remaining.remove(at: i)
        return true
    }

    /// The value after `--name`, or nil when the option is absent.
    mutating func string(_ name: String) throws -> String? {
        guard let i = remaining.firstIndex(of: "--\(name)") else { return nil }
        guard i + 1 < remaining.count, !remaining[i + 1].hasPrefix("--") else {
            throw UsageError("\(command): --\(name) needs a value")
        }
        let value = remaining[i + 1]
        remaining.removeSubrange(i...i + 1)
        if remaining.contains("--\(name)") { throw UsageError("\(command): --\(name) is given more than once") }
        return value
    }

    mutating func int(_ name: String, range: ClosedRange<Int> = 0...Int.max) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError("\(command): --\(name) expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return value
    }

    /// Every `KEY=VALUE` argument, in order (and removes them).
    mutating func overrides() -> [(key: String, value: String)] {
        var result: [(String, String)] = []
        remaining.removeAll { argument in
            guard !argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") else { return false }
            result.append((String(argument[..<eq]), String(argument[argument.index(after: eq)...])))
            return true
        }
        return result
    }

    /// Refuses whatever was not consumed.
    func finish() throws {
        if let unknown = remaining.first {
            throw UsageError("\(command): unknown argument '\(unknown)' (see `Distributed \(command) --help`)")
        }
    }
}
