// Which rank holds the others back. Every rank reports its seconds per step and the seconds it
// spent blocked in communication; a straggler shows as the largest step time *and* the smallest
// communication time, because the others wait for it inside the collectives.
import Foundation

/// The least, the median and the greatest of one number over the ranks.
public struct RankSpread: Equatable, Sendable {
    public let min: Double
    public let median: Double
    public let max: Double
    /// The rank with the greatest value.
    public let maxRank: Int

    init(_ values: [Double]) {
        let sorted = values.sorted()
        min = sorted.first!
        max = sorted.last!
        median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        maxRank = values.firstIndex(of: max)!
    }
}

public struct StragglerSummary: Equatable, Sendable {
    public let stepSeconds: RankSpread
    public let commSeconds: RankSpread

    /// The fields for a metrics.jsonl line.
    public var metrics: [String: Double] {
        ["step_s_min": stepSeconds.min, "step_s_median": stepSeconds.median, "step_s_max": stepSeconds.max,
         "step_s_max_rank": Double(stepSeconds.maxRank),
         "comm_s_min": commSeconds.min, "comm_s_median": commSeconds.median, "comm_s_max": commSeconds.max]
    }

    /// For the progress line, e.g. `step 0.412/0.415/0.470 s (slowest rank 3), comm 0.003/0.051/0.060 s`.
    public var progressText: String {
        let spread = { (s: RankSpread) in String(format: "%.3f/%.3f/%.3f s", s.min, s.median, s.max) }
        return "step \(spread(stepSeconds)) (slowest rank \(stepSeconds.maxRank)), comm \(spread(commSeconds))"
    }
}

extension Communicator {
    /// Min/median/max over the ranks of each rank's mean seconds per step and mean seconds per
    /// step blocked in communication (`secondsInCollectives` plus `GradientReducer.secondsWaiting`,
    /// differenced over the interval). A collective: every rank calls it at the same step, and
    /// every rank gets the summary.
    public func stragglerSummary(stepSeconds: Double, commSeconds: Double) -> StragglerSummary {
        let perRank = gathered([stepSeconds, commSeconds])
        return StragglerSummary(stepSeconds: RankSpread(perRank.map { $0[0] }), commSeconds: RankSpread(perRank.map { $0[1] }))
    }
}
