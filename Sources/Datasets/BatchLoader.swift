import Foundation

/// Prepares items on worker threads ahead of the consumer, in order, holding at most
/// `prefetch` finished-or-in-flight items (a bounded queue): `next()` returns item 0, 1, …
/// and blocks only when the workers are behind. Item `i` is built by `make(i)`, which must
/// derive any randomness from `i` (see `RandomGeneratorBox.forItem`) so results do not depend
/// on thread timing. An error thrown for item `i` is rethrown by the `next()` that reaches it.
public final class BatchLoader<Item: Sendable>: @unchecked Sendable {
    public let count: Int
    private let make: @Sendable (Int) throws -> Item
    private let condition = NSCondition()
    private var ready: [Int: Result<Item, Error>] = [:]
    private var nextToMake = 0
    private var nextToTake = 0
    private var stopped = false
    private let prefetch: Int
    private var running = 0

    public init(count: Int, workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount - 1), prefetch: Int = 4,
                make: @escaping @Sendable (Int) throws -> Item) {
        self.count = count
        self.make = make
        self.prefetch = max(1, prefetch)
        running = max(1, workers)
        for _ in 0..<max(1, workers) {
            let t = Thread { [self] in work() }
            t.stackSize = 8 << 20
            t.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !stopped && nextToMake < count && nextToMake - nextToTake >= prefetch { condition.wait() }
            if stopped || nextToMake >= count {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let i = nextToMake
            nextToMake += 1
            condition.unlock()
            let result = Result { try make(i) }
            condition.lock()
            ready[i] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next item in order, nil after the last.
    public func next() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        guard nextToTake < count else { return nil }
        while ready[nextToTake] == nil { condition.wait() }
        let r = ready.removeValue(forKey: nextToTake)!
        nextToTake += 1
        condition.broadcast()
        return try r.get()
    }

    /// Items finished and waiting (for tests and progress displays).
    public var buffered: Int {
        condition.lock(); defer { condition.unlock() }
        return ready.count
    }

    /// Stops the workers after their current item.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    deinit {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
