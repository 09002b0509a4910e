import Foundation

/// A progress event from a running stage.
public struct ProgressEvent: Sendable {
    public var stage: String
    public var epoch: Int, epochs: Int
    public var step: Int, steps: Int
    public var values: [(String, Double)]
    public init(stage: String, epoch: Int, epochs: Int, step: Int, steps: Int, values: [(String, Double)] = []) {
        self.stage = stage; self.epoch = epoch; self.epochs = epochs; self.step = step; self.steps = steps; self.values = values
    }
}

/// Where progress goes: a redrawn status line on a terminal, plain log lines otherwise.
public final class ProgressSink: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal: Bool
    private let quiet: Bool
    private var started: [String: Date] = [:]
    private var lastLine = Date.distantPast
    private var lastEpoch: [String: Int] = [:]

    public init(quiet: Bool = false, terminal: Bool? = nil) {
        self.quiet = quiet
        self.isTerminal = terminal ?? (isatty(STDERR_FILENO) == 1)
    }

    /// A message on its own line (stage start, reuse, finish).
    public func log(_ message: String) {
        guard !quiet else { return }
        lock.lock(); defer { lock.unlock() }
        let line = isTerminal ? "\r\u{1B}[2K" + message + "\n" : message + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    public func report(_ e: ProgressEvent) {
        guard !quiet else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        let start = started[e.stage] ?? now
        if started[e.stage] == nil { started[e.stage] = now }
        let done = Double(e.epoch * max(1, e.steps) + e.step + 1)
        let total = Double(max(1, e.epochs) * max(1, e.steps))
        let elapsed = now.timeIntervalSince(start)
        let eta = done > 0 ? elapsed / done * (total - done) : 0
        let values = e.values.map { "\($0.0) \(String(format: "%.4f", $0.1))" }.joined(separator: "  ")
        let text = "\(e.stage)  epoch \(e.epoch + 1)/\(e.epochs)  step \(e.step + 1)/\(e.steps)  \(values)  ETA \(Self.duration(eta))"
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
        } else if now.timeIntervalSince(lastLine) >= 10 || lastEpoch[e.stage] != e.epoch || e.step + 1 == e.steps {
            // Plain logs: at most one line per 10 s, plus every epoch boundary.
            lastLine = now
            lastEpoch[e.stage] = e.epoch
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    public static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}
