"""eGeMAPS: the 88 acoustic parameters of the Geneva Minimalistic Acoustic Parameter Set (Eyben et al. 2016), computed
by openSMILE (audEERING's `opensmile` package, eGeMAPSv02 functionals) for one clip.

    vector = egemaps_features(wave)       # (88,) float32, in FEATURE_NAMES order
    lesson = describe("loudness_sma3_amean")   # a plain sentence on what a parameter measures

One function used by training (`train/heads/egemaps.py`, `train/evaluation/calm_neutral.py`), the models (`ser/models/egemaps.py`), the
app's lesson and the CLI. openSMILE is free for non-commercial use only (audEERING research licence; see
DATA_LICENSES.md): everything computed with it inherits that restriction.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from ser.audio.load import SAMPLE_RATE, AudioError, check_wave, trim_silence

FEATURE_SET = "eGeMAPSv02"
N_FEATURES = 88
OPENSMILE_VERSION = "2.6.0"  # as pinned in requirements.txt; a model records the version its features came from
MISSING_OPENSMILE = (f"The eGeMAPS models need the opensmile package, which is not installed here; run "
                     f"`pip install opensmile=={OPENSMILE_VERSION}` or pick another model.")
TOO_SHORT = "The clip is too short for openSMILE to measure its voice; record a sentence of at least half a second."
NO_VOICE = ("openSMILE found too little voiced speech in this clip to measure pitch and voice quality; record a longer "
            "sentence, spoken clearly.")

VOICED_SEGMENTS_PER_SEC = 82  # index of VoicedSegmentsPerSec in openSMILE's order (checked by tests/test_egemaps.py)

_local = threading.local()  # one openSMILE instance per thread: the app analyses two clips at once


def _smile():
    if not hasattr(_local, "smile"):
        try:
            import opensmile
        except ImportError:
            raise AudioError(MISSING_OPENSMILE) from None
        _local.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                       feature_level=opensmile.FeatureLevel.Functionals)
    return _local.smile


def egemaps_features(wave: np.ndarray, trim: bool = True, require_voice: bool = False) -> np.ndarray:
    """The 88 eGeMAPSv02 functionals of a 16-kHz mono clip, in `FEATURE_NAMES` order.

    Leading and trailing silence is trimmed first (as for the classic model), so RAVDESS's long pauses and TESS's tight
    clips measure the same thing: the rate and voiced-segment parameters would otherwise count the silence.
    Raises `AudioError` (one sentence) when the clip yields no finite parameters, or, with `require_voice`, when openSMILE
    finds no voiced frame (it then writes 0 for pitch and voice quality: fine for a classifier's input, which any sound
    gets, but not a measurement to show a person).
    """
    wave = check_wave(wave)
    if trim:
        wave = trim_silence(wave)
    smile = _smile()
    try:
        with warnings.catch_warnings():  # "Segment too short, filling with NaN": answered below with a sentence
            warnings.simplefilter("ignore", UserWarning)
            values = smile.process_signal(wave, SAMPLE_RATE).to_numpy(dtype=np.float64)
    except Exception as err:  # openSMILE's own errors (e.g. a signal too short for its windows)
        raise AudioError(f"openSMILE could not analyse this clip ({type(err).__name__}); record a longer sentence.") from None
    if values.shape != (1, N_FEATURES) or not np.isfinite(values).all():
        raise AudioError(TOO_SHORT)
    if require_voice and values[0, VOICED_SEGMENTS_PER_SEC] <= 0:  # noise, a whisper, a click
        raise AudioError(NO_VOICE)
    return values[0].astype(np.float32)


def feature_names() -> list[str]:
    """openSMILE's names of the 88 parameters (e.g. `F0semitoneFrom27.5Hz_sma3nz_amean`)."""
    return list(_smile().feature_names)


# Plain sentences for the parameters a lesson may show: what each one measures, for a listener, not an engineer.
# Keyed by openSMILE's low-level descriptor name; the functional (mean, spread, percentile, slope) is added by `describe`.
DESCRIPTORS = {
    "F0semitoneFrom27.5Hz_sma3nz": ("pitch", "how high the voice is (fundamental frequency, in semitones above 27.5 Hz)"),
    "loudness_sma3": ("loudness", "how loud the voice sounds (perceived loudness)"),
    "spectralFlux_sma3": ("spectral flux", "how fast the sound's spectrum changes from one moment to the next"),
    "jitterLocal_sma3nz": ("jitter", "how irregular the length of successive pitch periods is (a rough or unsteady voice)"),
    "shimmerLocaldB_sma3nz": ("shimmer", "how irregular the loudness of successive pitch periods is"),
    "HNRdBACF_sma3nz": ("harmonics-to-noise ratio", "how clear (harmonic) rather than breathy or noisy the voice is"),
    "logRelF0-H1-H2_sma3nz": ("H1-H2", "the strength of the first harmonic over the second (breathy voices score higher)"),
    "logRelF0-H1-A3_sma3nz": ("H1-A3", "the strength of the first harmonic over the third formant's peak (spectral tilt)"),
    "alphaRatioV_sma3nz": ("alpha ratio", "the energy above 1 kHz relative to below it in voiced sounds (a brighter, more pressed voice scores higher)"),
    "hammarbergIndexV_sma3nz": ("Hammarberg index", "how much stronger the peak below 2 kHz is than the peak above it in voiced sounds (a tense voice scores lower)"),
    "slopeV0-500_sma3nz": ("spectral slope 0-500 Hz", "the tilt of the voiced spectrum between 0 and 500 Hz: how the energy shifts across the lowest frequencies"),
    "slopeV500-1500_sma3nz": ("spectral slope 500-1500 Hz", "the tilt of the voiced spectrum between 500 and 1500 Hz: how the energy shifts from the low to the middle frequencies"),
    "spectralFluxV_sma3nz": ("spectral flux (voiced)", "how fast the spectrum of voiced sounds changes"),
    "alphaRatioUV_sma3nz": ("alpha ratio (unvoiced)", "the energy above 1 kHz relative to below it in unvoiced sounds"),
    "hammarbergIndexUV_sma3nz": ("Hammarberg index (unvoiced)", "the Hammarberg index of unvoiced sounds"),
    "slopeUV0-500_sma3nz": ("spectral slope 0-500 Hz (unvoiced)", "the spectral slope of unvoiced sounds below 500 Hz"),
    "slopeUV500-1500_sma3nz": ("spectral slope 500-1500 Hz (unvoiced)", "the spectral slope of unvoiced sounds, 500-1500 Hz"),
    "spectralFluxUV_sma3nz": ("spectral flux (unvoiced)", "how fast the spectrum of unvoiced sounds changes"),
}
for _k in range(1, 4):
    DESCRIPTORS[f"F{_k}frequency_sma3nz"] = (f"formant F{_k}", f"the frequency of the {['first', 'second', 'third'][_k - 1]} vocal-tract resonance (vowel quality)")
    DESCRIPTORS[f"F{_k}bandwidth_sma3nz"] = (f"F{_k} bandwidth", f"how wide the {['first', 'second', 'third'][_k - 1]} resonance is")
    DESCRIPTORS[f"F{_k}amplitudeLogRelF0_sma3nz"] = (f"F{_k} amplitude", f"the strength of the {['first', 'second', 'third'][_k - 1]} resonance relative to the pitch harmonic")
for _k in range(1, 5):
    DESCRIPTORS[f"mfcc{_k}_sma3"] = (f"MFCC {_k}", f"the spectral envelope's shape, cepstral coefficient {_k}")
    DESCRIPTORS[f"mfcc{_k}V_sma3nz"] = (f"MFCC {_k} (voiced)", f"cepstral coefficient {_k} of voiced sounds")
FUNCTIONALS = {
    "amean": ("mean", "on average"),
    "stddevNorm": ("variation", "how much it varies over the clip (standard deviation relative to the mean)"),
    "percentile20.0": ("20th percentile", "its low end (20th percentile)"),
    "percentile50.0": ("median", "its median"),
    "percentile80.0": ("80th percentile", "its high end (80th percentile)"),
    "pctlrange0-2": ("range", "its range (20th to 80th percentile)"),
    "meanRisingSlope": ("rising slope", "how fast it rises, on average"),
    "stddevRisingSlope": ("rising-slope variation", "how much its rises vary in speed"),
    "meanFallingSlope": ("falling slope", "how fast it falls, on average"),
    "stddevFallingSlope": ("falling-slope variation", "how much its falls vary in speed"),
}
WHOLE_CLIP = {  # parameters without a descriptor/functional split
    "loudnessPeaksPerSec": ("speech rate (loudness peaks per second)", "how many loudness peaks (roughly, syllables) come per second: the speech rate"),
    "VoicedSegmentsPerSec": ("voiced segments per second", "how many separate voiced stretches come per second"),
    "MeanVoicedSegmentLengthSec": ("voiced segment length", "how long the voiced stretches last, on average (seconds)"),
    "StddevVoicedSegmentLengthSec": ("voiced segment length variation", "how much the voiced stretches vary in length"),
    "MeanUnvoicedSegmentLength": ("pause length", "how long the unvoiced stretches and pauses last, on average (seconds)"),
    "StddevUnvoicedSegmentLength": ("pause length variation", "how much the unvoiced stretches and pauses vary in length"),
    "equivalentSoundLevel_dBp": ("sound level", "the overall sound level of the clip (dB)"),
}


def describe(name: str) -> tuple[str, str]:
    """(short label, one plain sentence) for an eGeMAPS parameter name, e.g. ("pitch: range", "The voice's pitch range ...")."""
    if name in WHOLE_CLIP:
        label, what = WHOLE_CLIP[name]
        return label, f"{what[0].upper()}{what[1:]}."
    descriptor, _, functional = name.rpartition("_")
    if descriptor in DESCRIPTORS and functional in FUNCTIONALS:
        short, what = DESCRIPTORS[descriptor]
        f_short, f_what = FUNCTIONALS[functional]
        return f"{short}: {f_short}", f"{what[0].upper()}{what[1:]}: {f_what}."
    return name, f"openSMILE's eGeMAPS parameter {name}."
