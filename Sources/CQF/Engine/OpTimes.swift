// Wall-clock time per engine op, for `bench --ops` (where a step's time goes, by op rather than
// by symbol: perf's call graphs lose the elementwise chains to inlining). Every op ends in
// `record`, which knows its name, and ops run one after another on the training thread (their
// loops fan out to the engine threads and join before they return): the time from one op's end
// to the next op's end is the next op's. Backward rules are timed whole, under "backward of OP",
// and the step's other work (optimizer, waiting for gradients) is named where it happens.
import Dispatch

public enum OpTimes {
    nonisolated(unsafe) public static var isOn = false
    /// Seconds and calls per name, since `reset`.
    nonisolated(unsafe) public private(set) static var totals: [String: (seconds: Double, calls: Int)] = [:]
    nonisolated(unsafe) private static var lastLap = DispatchTime.now().uptimeNanoseconds
    /// The name that the time of every op goes to inside `within`.
    nonisolated(unsafe) private static var rule: String?

    /// Forgets the totals; the next lap counts from now.
    public static func reset() {
        totals = [:]
        lastLap = DispatchTime.now().uptimeNanoseconds
    }

    /// Lets the time since the last lap go uncounted (a benchmark's barrier between steps).
    public static func skip() {
        lastLap = DispatchTime.now().uptimeNanoseconds
    }

    /// Adds the time since the last lap, and a call, to `name`; inside `within`, the time alone
    /// to the name given there.
    @inline(__always)
    public static func lap(_ name: @autoclosure () -> String) {
        guard isOn else { return }
        if let rule { add(rule, calls: 0) } else { add(name(), calls: 1) }
    }

    private static func add(_ name: String, calls: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        totals[name, default: (0, 0)].seconds += Double(now - lastLap) / 1e9
        totals[name, default: (0, 0)].calls += calls
        lastLap = now
    }

    /// Runs `body` with all of its time, its ops' included, going to `name` (a backward rule,
    /// the optimizer). What ran since the last lap goes to `before`.
    @inline(__always)
    public static func within<T>(_ name: @autoclosure () -> String, before: String, _ body: () -> T) -> T {
        guard isOn else { return body() }
        lap(before)
        let (outer, inner) = (rule, name())
        rule = inner
        defer { add(inner, calls: 1); rule = outer }
        return body()
    }
}
