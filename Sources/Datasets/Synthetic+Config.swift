import Foundation

/// Sizes of the synthetic stand-in datasets.
public enum SyntheticScale: String, CaseIterable, Sendable {
    /// Seconds to generate on 2 cores; what CI and `bench all --scale ci` use.
    case ci
    /// Minutes to generate; larger frames and many more videos.
    case mini
}

/// What `SyntheticDatasets.generate` writes. Frames are `width × height` everywhere.
public struct SyntheticConfig: Sendable, Equatable {
    /// A single-label recognition set.
    public struct Recognition: Sendable, Equatable {
        public var classes: Int
        /// Kinetics / HMDB: videos per class. UCF: groups per class (`gGG`).
        public var perClass: Int
        /// UCF: clips per group (`cCC`); Kinetics: held-out (val) videos per class.
        public var extra: Int
        public var fps: Double
        public var seconds: ClosedRange<Double>

        public init(classes: Int, perClass: Int, extra: Int, fps: Double, seconds: ClosedRange<Double>) {
            self.classes = classes
            self.perClass = perClass
            self.extra = extra
            self.fps = fps
            self.seconds = seconds
        }
    }

    public var width: Int
    public var height: Int
    public var kinetics: Recognition
    public var ucf: Recognition
    public var hmdb: Recognition
    /// AVA: train and val movies, keyframes per movie, actors per movie.
    public var avaTrainVideos: Int
    public var avaTestVideos: Int
    public var avaKeyframes: Int
    public var avaActors: Int
    /// Epic: participants, videos per participant, seconds per video.
    public var epicParticipants: Int
    public var epicVideosPerParticipant: Int
    public var epicSeconds: Double
    /// Epic frame rate (the last video of the first participant uses 50 fps, as a few real
    /// videos differ).
    public var epicFPS: Double
    public var difficulty: Difficulty

    public static func preset(_ scale: SyntheticScale) -> SyntheticConfig {
        switch scale {
        case .ci:
            return SyntheticConfig(
                width: 64, height: 48,
                kinetics: Recognition(classes: 10, perClass: 16, extra: 8, fps: 30, seconds: 2.4...3.2),
                ucf: Recognition(classes: 8, perClass: 6, extra: 2, fps: 25, seconds: 2.8...3.6),
                hmdb: Recognition(classes: 6, perClass: 15, extra: 0, fps: 30, seconds: 2.4...3.2),
                avaTrainVideos: 3, avaTestVideos: 2, avaKeyframes: 8, avaActors: 3,
                epicParticipants: 2, epicVideosPerParticipant: 2, epicSeconds: 20, epicFPS: 60,
                difficulty: Difficulty(maxDistractors: 1, appearancePool: 4, layoutVariation: 0.25, backgroundPool: 1))
        case .mini:
            return SyntheticConfig(
                width: 128, height: 96,
                kinetics: Recognition(classes: 16, perClass: 60, extra: 10, fps: 30, seconds: 3...5),
                ucf: Recognition(classes: 12, perClass: 12, extra: 3, fps: 25, seconds: 3...5),
                hmdb: Recognition(classes: 10, perClass: 40, extra: 0, fps: 30, seconds: 3...5),
                avaTrainVideos: 12, avaTestVideos: 4, avaKeyframes: 20, avaActors: 4,
                epicParticipants: 4, epicVideosPerParticipant: 3, epicSeconds: 60, epicFPS: 60,
                difficulty: Difficulty(maxDistractors: 3, noise: 8, cameraJitter: 0.8, tempoRange: 2, appearancePool: 8))
        }
    }

    /// A very small configuration for unit tests (a few seconds in a debug build).
    public static var tiny: SyntheticConfig {
        SyntheticConfig(
            width: 32, height: 24,
            kinetics: Recognition(classes: 3, perClass: 2, extra: 1, fps: 25, seconds: 1.0...1.2),
            ucf: Recognition(classes: 3, perClass: 3, extra: 1, fps: 25, seconds: 1.0...1.2),
            hmdb: Recognition(classes: 3, perClass: 4, extra: 0, fps: 25, seconds: 1.0...1.2),
            avaTrainVideos: 1, avaTestVideos: 1, avaKeyframes: 3, avaActors: 2,
            epicParticipants: 1, epicVideosPerParticipant: 2, epicSeconds: 8, epicFPS: 30,
            difficulty: Difficulty())
    }
}
