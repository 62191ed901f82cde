"""Plotly figures for the app: probabilities, waveform and spectral features (all from `ser.features`), timeline, confusion.

Long recordings are decimated before plotting (at most `MAX_COLUMNS` time columns) and their spectra are computed in
chunks, so a 10-minute file costs the browser and the server about as much as a 20-second one.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from ser import features
from ser.audio import SAMPLE_RATE
from ser.inference import Timeline

MAX_COLUMNS = 2000  # time columns per plot: more than a screen shows, small enough to send quickly
CHUNK_COLUMNS = 150  # pooled columns per STFT chunk of a long recording (bounds the STFT's memory)
HEIGHT = 260
MARGIN = dict(l=60, r=20, t=40, b=45)
MEL_TICKS_HZ = (250, 500, 1000, 2000, 4000, 7000)
MFCC_RANGE_PERCENTILE = 99  # colour range of the MFCC plot, over c1...: c0 (overall level) is far larger and would wash them out
# Figures are built from plain dicts without plotly's per-property validation, which costs ~100 ms a figure
# (most of a request's budget); tests/test_app_api.py builds every figure with VALIDATE = True.
VALIDATE = False
AXIS_STYLE = dict(gridcolor="#e5e8ef", zerolinecolor="#c8ccd6", linecolor="#c8ccd6", automargin=True)
FONT = dict(family="Arial, sans-serif", size=12, color="#2a3f5f")
# one colour per emotion everywhere in the app (colour-blind-safe Okabe-Ito order, then greys)
EMOTION_COLORS = {
    "neutral": "#7f7f7f", "calm": "#56B4E9", "calm/neutral": "#56B4E9", "happy": "#E69F00", "sad": "#0072B2",
    "angry": "#D55E00", "fearful": "#CC79A7", "disgust": "#009E73", "surprised": "#F0E442", "boredom": "#999999",
}
PITCH_FLOOR_DB = 40.0  # pitch is shown only where the frame is within this many dB of the clip's loudest frame
CLIP_COLORS = ("#0072B2", "#D55E00")  # the two clips compared in the calm-vs-neutral lesson


def _scale(colors: list[str]) -> list[list]:
    """Explicit [position, colour] pairs: plotly.js knows only a few colour scales by name."""
    return [[i / (len(colors) - 1), c] for i, c in enumerate(colors)]


SPECTRUM_SCALE = _scale(plotly.colors.sequential.Magma)
CONFUSION_SCALE = _scale(plotly.colors.sequential.Blues)
MFCC_SCALE = _scale(plotly.colors.diverging.RdBu[::-1])


def _axis(title: str, **kwargs) -> dict:
    return {**AXIS_STYLE, "title": dict(text=title), **kwargs}


def _figure(data: list[dict], title: str, height: int = HEIGHT, x: dict | None = None, y: dict | None = None, **layout) -> go.Figure:
    spec = dict(
        title=dict(text=title, x=0.01, font=dict(size=14)), height=height, margin=MARGIN, font=FONT,
        paper_bgcolor="white", plot_bgcolor="white", xaxis={**AXIS_STYLE, **(x or {})}, yaxis={**AXIS_STYLE, **(y or {})},
    )
    return go.Figure(dict(data=data, layout={**spec, **layout}), _validate=VALIDATE)


def _color(label: str) -> str:
    return EMOTION_COLORS.get(label, "#444444")


def probability_bars(labels: list[str], probs, title: str = "Probability of each emotion") -> go.Figure:
    """Horizontal bars, most likely on top."""
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(probs, kind="stable")  # plotly draws the first bar at the bottom
    bar = dict(
        type="bar", orientation="h", x=(probs[order] * 100).round(2).tolist(), y=[labels[i] for i in order],
        marker=dict(color=[_color(labels[i]) for i in order]), text=[f"{probs[i] * 100:.1f}%" for i in order],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
    )
    return _figure([bar], title, height=max(HEIGHT, 30 * len(labels) + 80),
                   x=_axis("probability (%)", range=[0, 112]), y=dict(automargin=True))


# --- waveform and spectra --------------------------------------------------------------------------------------------

def waveform(wave: np.ndarray) -> go.Figure:
    """Min/max envelope in at most `MAX_COLUMNS` bins: at this width it looks the same as every sample."""
    bins = min(MAX_COLUMNS, wave.size)
    edges = np.linspace(0, wave.size, bins + 1).astype(np.int64)
    lows = np.minimum.reduceat(wave, edges[:-1]).astype(np.float32)
    highs = np.maximum.reduceat(wave, edges[:-1]).astype(np.float32)
    times = ((edges[:-1] + edges[1:]) / 2 / SAMPLE_RATE).astype(np.float32)
    peak = 1.05 * max(1e-3, float(np.abs(wave).max()))
    line = dict(width=0.8, color="#0072B2")
    traces = [
        dict(type="scatter", x=times, y=highs, mode="lines", line=line, hoverinfo="skip"),
        dict(type="scatter", x=times, y=lows, mode="lines", line=line, fill="tonexty", hovertemplate="%{x:.2f} s<extra></extra>"),
    ]
    return _figure(traces, "Waveform", x=_axis("time (s)"), y=_axis("amplitude", range=[-peak, peak]), showlegend=False)


def _pool_factor(wave: np.ndarray) -> int:
    n_frames = 1 + wave.size // features.HOP_LENGTH
    return max(1, math.ceil(n_frames / MAX_COLUMNS))


def pooled_power(wave: np.ndarray, factor: int) -> np.ndarray:
    """Power spectrogram averaged over groups of `factor` frames, computed chunk by chunk (bounded memory)."""
    chunk_samples = CHUNK_COLUMNS * factor * features.HOP_LENGTH
    parts = []
    for first in range(0, wave.size, chunk_samples):
        chunk = wave[first:first + chunk_samples]
        # drop the centring frame past the chunk's end: the next chunk starts there
        power = features.power_spectrogram(chunk)[:, : max(1, math.ceil(chunk.size / features.HOP_LENGTH))]
        groups = np.arange(0, power.shape[1], factor)
        parts.append(np.add.reduceat(power, groups, axis=1) / np.diff(np.append(groups, power.shape[1])))
    return np.concatenate(parts, axis=1).astype(np.float32)


def spectra(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(times, spectrogram dB, log-mel dB, MFCC), each with at most `MAX_COLUMNS` columns."""
    factor = _pool_factor(wave)
    if factor == 1:
        power = features.power_spectrogram(wave)
        spec_db = features.power_db(power)  # = features.spectrogram_db(wave), without a second STFT
        times = features.frame_times(power.shape[1])
    else:
        power = pooled_power(wave, factor)
        spec_db = features.power_db(power)  # the dB transform of features.spectrogram_db, after pooling
        times = (np.arange(power.shape[1]) * factor + (factor - 1) / 2) / features.FRAMES_PER_SECOND
    mel_db = features.log_mel(wave, power=power)
    coeffs = features.mfcc(wave, mel_db=mel_db)
    return times.astype(np.float32), spec_db, mel_db, coeffs


def _heatmap(z: np.ndarray, times: np.ndarray, y, title: str, y_axis: dict, unit: str, colorscale: list, dtype=np.int8,
             **trace) -> go.Figure:
    # whole-dB integers: invisible in the picture, and a quarter of float32's bytes to send
    info = np.iinfo(dtype)
    heat = dict(
        type="heatmap", z=np.clip(np.round(z), info.min, info.max).astype(dtype), x=times, y=y, colorscale=colorscale,
        colorbar=dict(title=dict(text=unit), thickness=12), **trace,
    )
    return _figure([heat], title, x=_axis("time (s)"), y=y_axis)


def spectrogram_figure(times: np.ndarray, spec_db: np.ndarray) -> go.Figure:
    return _heatmap(spec_db, times, features.fft_frequencies(), "Spectrogram", _axis("frequency (Hz)"), "dB", SPECTRUM_SCALE,
                    hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z} dB<extra></extra>")


def mel_figure(times: np.ndarray, mel_db: np.ndarray, title: str = "Mel spectrogram") -> go.Figure:
    """Bands drawn evenly spaced (the mel scale, as the models see it), labelled with their centre frequency in Hz."""
    centres = features.mel_frequencies(mel_db.shape[0])
    ticks = np.interp(MEL_TICKS_HZ, centres, np.arange(centres.size)).round(2).tolist()  # where each round frequency falls
    y_axis = _axis("frequency (Hz, mel scale)", tickvals=ticks, ticktext=[f"{hz:g}" for hz in MEL_TICKS_HZ])
    return _heatmap(mel_db, times, np.arange(mel_db.shape[0], dtype=np.int16), title, y_axis, "dB", SPECTRUM_SCALE,
                    hovertemplate="%{x:.2f} s, band %{y}: %{z} dB<extra></extra>")


def mfcc_figure(times: np.ndarray, coeffs: np.ndarray) -> go.Figure:
    limit = max(1.0, float(np.percentile(np.abs(coeffs[1:]), MFCC_RANGE_PERCENTILE))) if coeffs.shape[0] > 1 else None
    return _heatmap(coeffs, times, np.arange(coeffs.shape[0], dtype=np.int16), "MFCCs (c0, the overall level, is off the scale)",
                    _axis("coefficient"), "value", MFCC_SCALE, dtype=np.int16, zmin=-limit if limit else None, zmax=limit, zmid=0,
                    hovertemplate="%{x:.2f} s, c%{y}: %{z}<extra></extra>")


def feature_figures(wave: np.ndarray) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure]:
    """Waveform, spectrogram, mel spectrogram and MFCC figures of one recording."""
    times, spec_db, mel_db, coeffs = spectra(wave)
    return waveform(wave), spectrogram_figure(times, spec_db), mel_figure(times, mel_db), mfcc_figure(times, coeffs)


# --- long recordings -------------------------------------------------------------------------------------------------

def timeline_figure(tl: Timeline) -> go.Figure:
    """One line per emotion: its probability in each window, plotted at the window's centre."""
    mode = "lines+markers" if len(tl.times) < 60 else "lines"
    traces = [
        dict(type="scatter", x=tl.times.astype(np.float32), y=(tl.probs[:, i] * 100).astype(np.float32), mode=mode, name=label,
             line=dict(color=_color(label), width=2), marker=dict(size=5),
             hovertemplate=f"{label}: " + "%{y:.0f}% at %{x:.1f} s<extra></extra>")
        for i, label in enumerate(tl.labels)
    ]
    end = max(tl.duration, float(tl.times.max()) if len(tl.times) else 1.0)
    return _figure(traces, f"Emotion over time ({tl.window_s:g}-s windows every {tl.hop_s:g} s over the voiced parts)", height=360,
                   x=_axis("time (s, window centre)", range=[0, end]), y=_axis("probability (%)", range=[0, 100]),
                   legend=dict(orientation="h", y=-0.25))


# --- the calm-vs-neutral lesson --------------------------------------------------------------------------------------

def confusion_figure(scores: dict, title: str) -> go.Figure:
    """Row-normalised confusion matrix (true class down, predicted across), counts in the hover."""
    labels = list(scores["labels"])
    counts = np.asarray(scores["confusion"], dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    percent = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) * 100
    heat = dict(
        type="heatmap", z=percent.round(1).tolist(), x=labels, y=labels, colorscale=CONFUSION_SCALE, zmin=0, zmax=100,
        customdata=counts.astype(int).tolist(), text=percent.round().astype(int).tolist(), texttemplate="%{text}",
        colorbar=dict(title=dict(text="% of row"), thickness=12),
        hovertemplate="true %{y}, predicted %{x}: %{customdata} clips (%{z:.1f}%)<extra></extra>",
    )
    return _figure([heat], title, height=460, x=_axis("predicted"), y=_axis("true", autorange="reversed"))


def pitch_energy_figure(clips: dict[str, np.ndarray]) -> go.Figure:
    """Pitch contour (top) and frame energy in dB (bottom) of a few clips, overlaid for comparison."""
    traces = []
    for (name, wave), color in zip(clips.items(), CLIP_COLORS):
        energy_db = 20 * np.log10(np.maximum(features.rms_energy(wave), 1e-5))  # RMS as dBFS
        f0 = features.pitch_contour(wave)
        n = min(f0.size, energy_db.size)
        f0 = f0[:n].copy()
        f0[energy_db[:n] < energy_db.max() - PITCH_FLOOR_DB] = np.nan  # pitch "found" in near-silence is noise
        traces.append(dict(type="scatter", x=features.frame_times(f0.size), y=f0, mode="lines", name=name, legendgroup=name,
                           line=dict(color=color, width=2), hovertemplate=f"{name}: " + "%{y:.0f} Hz at %{x:.2f} s<extra></extra>"))
        traces.append(dict(type="scatter", x=features.frame_times(energy_db.size), y=energy_db.astype(np.float32), mode="lines",
                           name=name, legendgroup=name, showlegend=False, line=dict(color=color, width=1.5), xaxis="x", yaxis="y2",
                           hovertemplate=f"{name}: " + "%{y:.0f} dBFS at %{x:.2f} s<extra></extra>"))
    return _figure(traces, "Pitch (top) and energy (bottom)", height=460, x=_axis("time (s)", anchor="y2"),
                   y=_axis("pitch (Hz)", domain=[0.55, 1.0]), yaxis2={**_axis("energy (dBFS)", range=[-70, 0]), "domain": [0.0, 0.45]},
                   legend=dict(orientation="h", y=1.12, x=0.5, xanchor="center"))
