import ArgumentParser

struct PerfDecode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Decode speed (pending).")
}
struct PerfCache: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Cache read speed (pending).")
}
