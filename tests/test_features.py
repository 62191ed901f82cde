"""Spectral features against librosa (and Whisper's own extractor) computed here with explicit parameters."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from ser.audio import features as F
from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio

ONE_SECOND_FRAMES = 1 + SAMPLE_RATE // 160  # centred frames every 10 ms: 101 for 1 s
PITCH_CLASS_A = 9  # chroma rows start at C


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    """1 s of 440 Hz at 16 kHz, float32 as the loader returns it."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def speech(ravdess_clip) -> np.ndarray:
    return load_audio(ravdess_clip)


def test_module_constants_are_the_documented_ones():
    assert (F.N_FFT, F.HOP_LENGTH, F.N_MELS, F.WHISPER_N_MELS, F.N_MFCC) == (400, 160, 64, 80, 40)
    assert F.FRAMES_PER_SECOND == 100


def test_spectrogram_db_peaks_at_440_hz(tone):
    spec = F.spectrogram_db(tone)
    assert spec.shape == (201, ONE_SECOND_FRAMES) and spec.dtype == np.float32
    assert F.fft_frequencies()[spec.mean(axis=1).argmax()] == pytest.approx(440.0, abs=20)  # bins are 40 Hz apart
    assert spec.max() == 0.0 and spec.min() >= -F.TOP_DB  # relative to the peak, floored TOP_DB below


def test_power_spectrogram_matches_librosa_stft(tone):
    expected = np.abs(librosa.stft(tone, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")) ** 2
    np.testing.assert_allclose(F.power_spectrogram(tone), expected, rtol=1e-5, atol=1e-6)


def test_log_mel_equals_librosa_melspectrogram_in_db(tone, speech):
    for wave in (tone, speech):
        power = librosa.feature.melspectrogram(
            y=wave, sr=SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=64, power=2.0, center=True, pad_mode="reflect"
        )
        expected = 10 * np.log10(np.maximum(power, 1e-10))
        got = F.log_mel(wave)
        assert got.shape == (64, 1 + wave.size // 160)
        np.testing.assert_allclose(got, expected, atol=1e-3)


def test_log_mel_of_the_tone_peaks_in_the_band_holding_440_hz(tone):
    band = F.log_mel(tone).mean(axis=1).argmax()
    assert F.mel_filters()[band, 11] == F.mel_filters()[:, 11].max()  # FFT bin 11 = 440 Hz


def test_mfcc_shapes_and_values(tone):
    coeffs = F.mfcc(tone)
    assert coeffs.shape == (40, ONE_SECOND_FRAMES)
    expected = librosa.feature.mfcc(S=F.log_mel(tone), n_mfcc=40)
    np.testing.assert_allclose(coeffs, expected, rtol=1e-4, atol=1e-3)
    stacked = F.mfcc(tone, deltas=True)
    assert stacked.shape == (120, ONE_SECOND_FRAMES)
    np.testing.assert_array_equal(stacked[:40], coeffs)
    np.testing.assert_allclose(stacked[40:80], librosa.feature.delta(coeffs, width=9), atol=1e-3)


@pytest.mark.filterwarnings("ignore:n_fft=400 is too large")
def test_mfcc_deltas_on_clips_shorter_than_the_delta_window(tone):
    for samples in (160 * 4, 160, 10):  # 5, 2 and 1 frames
        stacked = F.mfcc(tone[:samples], deltas=True)
        assert stacked.shape == (120, 1 + samples // 160) and np.isfinite(stacked).all()


def test_chroma_peaks_at_pitch_class_a(tone):
    chroma = F.chroma(tone)
    assert chroma.shape == (12, ONE_SECOND_FRAMES)
    assert chroma.mean(axis=1).argmax() == PITCH_CLASS_A


def test_rms_of_a_sine_is_amplitude_over_root_two(tone):
    rms = F.rms_energy(tone)
    assert rms.shape == (ONE_SECOND_FRAMES,)
    assert np.median(rms) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_summary_features_size_and_finite(tone, speech):
    for wave in (tone, speech, tone[:1600]):
        vector = F.summary_features(wave)
        assert vector.shape == (F.SUMMARY_SIZE,) and vector.dtype == np.float32
        assert np.isfinite(vector).all()
    assert F.SUMMARY_SIZE == 2 * (120 + 12 + 64 + 3)
    # the first block is the MFCC mean: check it against the features computed on their own
    np.testing.assert_allclose(F.summary_features(tone)[:40], F.mfcc(tone).mean(axis=1), rtol=1e-4, atol=1e-3)


def test_whisper_log_mel_equals_transformers_extractor(speech):
    extractor = WhisperFeatureExtractor(feature_size=80)
    expected = extractor(speech, sampling_rate=SAMPLE_RATE, padding="do_not_pad", return_tensors="np").input_features[0]
    got = F.whisper_log_mel(speech)
    assert got.shape == expected.shape == (80, speech.size // 160)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_frame_times_and_frequencies_are_monotonic_with_the_right_ends(tone):
    frames = F.spectrogram_db(tone).shape[1]
    times = F.frame_times(frames)
    assert times[0] == 0.0 and times[-1] == pytest.approx(tone.size / SAMPLE_RATE)  # last frame centred on the end
    assert np.all(np.diff(times) > 0)
    freqs = F.fft_frequencies()
    assert freqs[0] == 0.0 and freqs[-1] == SAMPLE_RATE / 2 and np.all(np.diff(freqs) > 0)
    for n_mels in (F.N_MELS, F.WHISPER_N_MELS):
        centres = F.mel_frequencies(n_mels)
        assert centres.shape == (n_mels,) and np.all(np.diff(centres) > 0)
        assert 0 < centres[0] < 100 and 7000 < centres[-1] < SAMPLE_RATE / 2
        # each centre is where its filter peaks (to within one 40 Hz FFT bin)
        peaks = freqs[F.mel_filters(n_mels).argmax(axis=1)]
        assert np.abs(peaks - centres).max() <= 40.0


def test_pitch_contour_finds_the_tone(tone):
    f0 = F.pitch_contour(tone[: SAMPLE_RATE // 2])
    voiced = f0[np.isfinite(f0)]
    assert voiced.size > 10 and np.median(voiced) == pytest.approx(440.0, rel=0.02)


@pytest.mark.parametrize("n_samples", [1, 150, 200, 201, 399, 1000])
def test_power_spectrogram_matches_librosa_on_clips_shorter_than_a_frame(n_samples):
    wave = np.random.default_rng(n_samples).standard_normal(n_samples).astype(np.float32) * 0.1
    expected = np.abs(librosa.stft(wave, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")) ** 2
    got = F.power_spectrogram(wave)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_rms_energy_is_librosa_rms(speech):
    expected = librosa.feature.rms(y=speech, frame_length=400, hop_length=160, center=True)[0]
    np.testing.assert_allclose(F.rms_energy(speech), expected, rtol=1e-5, atol=1e-8)


def test_stored_mel_filters_are_librosas():
    """assets/mel_filters.npz spares every process librosa's import; it must hold exactly librosa's filters."""
    for n_mels in (F.N_MELS, F.WHISPER_N_MELS):
        expected = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=n_mels).astype(np.float32)
        np.testing.assert_array_equal(F.mel_filters(n_mels), expected)
    np.testing.assert_allclose(F.mel_filters(40), librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=40), rtol=1e-6)


def test_power_db_is_librosas_power_to_db(tone, speech):
    for power in (F.power_spectrogram(tone), F.power_spectrogram(speech), np.zeros((201, 5), dtype=np.float32)):
        expected = librosa.power_to_db(power, ref=np.max, top_db=F.TOP_DB)
        np.testing.assert_allclose(F.power_db(power), expected, rtol=0, atol=1e-4)


def test_frequency_axes_are_librosas():
    np.testing.assert_allclose(F.fft_frequencies(), librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=F.N_FFT), rtol=1e-6)
    for n_mels in (F.N_MELS, F.WHISPER_N_MELS):
        expected = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=F.F_MIN, fmax=F.F_MAX)[1:-1]
        np.testing.assert_allclose(F.mel_frequencies(n_mels), expected, rtol=1e-5)


def test_shipped_pitch_contours_are_pyins_of_the_example_clips():
    """The lesson tab reads the example clips' contours from a file instead of running pyin (numba) in the app: they must
    be what pyin computes, and a clip that is not shipped must still get pyin's contour."""
    paths = sorted(settings.EXAMPLES_DIR.glob("*.flac"))
    assert len(F._shipped_pitch_contours()) == len(paths) > 0
    for path in paths:
        wave = load_audio(path)
        np.testing.assert_array_equal(F.pitch_contour(wave), F._pyin(wave))
    other = load_audio(paths[0])[:-160]
    assert F._samples_sha256(other) not in F._shipped_pitch_contours()
    np.testing.assert_array_equal(F.pitch_contour(other), F._pyin(other))


def test_figures_of_a_clip_do_not_load_numba():
    """numba and scipy (librosa's first call) cost the app ~190 MB of resident memory; the figures and the lesson's
    pitch of the shipped clips do without them."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from ser import plots, settings; from ser.audio.load import load_audio; "
            "from ser.audio.voice import voice_tracks; "
            "plots.feature_figures(np.random.default_rng(0).normal(0, 0.1, 64000).astype(np.float32)); "
            "plots.pitch_energy_figure({p.stem: voice_tracks(load_audio(p)) "
            "for p in sorted(settings.EXAMPLES_DIR.glob('*.flac'))[:2]}); "
            "print(sorted(m for m in ('numba', 'scipy', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=settings.PROJECT_ROOT, check=True)
    assert result.stdout.strip() == "[]"
