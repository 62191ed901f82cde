"""Sound in, numbers out: decoding and checking a recording (`load`), the frame features every model and plot reads
(`features`), a voice's pitch and loudness (`voice`) and openSMILE's eGeMAPS parameters (`egemaps`). The bottom layer:
imports only `ser.settings`.
"""
