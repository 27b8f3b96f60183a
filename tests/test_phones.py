"""Phone features (talkface_lite.phones): soft phone vectors by hand, PER by hand, recognition on the
synthetic speaker (whose true phones and pauses are known), and kind="phones" through talkface_lite.audio."""

import numpy as np
import pytest
from scipy.stats import norm

from talkface_lite import audio as A
from talkface_lite import phones as P
from talkface_lite.data.synthetic import make_script
from talkface_lite.data.synthetic import speech_synth as S


def test_phone_set_is_cmudict_plus_silence_and_noise():
    assert P.N_PHONES == 41 == A.FEATURE_DIMS["phones"]
    assert P.PHONE_SET[:3] == ["AA", "AE", "AH"] and P.PHONE_SET[-2:] == ["SIL", "NOISE"]
    assert P.normalise_phone("ah0") == "AH" and P.normalise_phone("EY1") == "EY"
    assert P.normalise_phone("+SPN+") == "NOISE" and P.normalise_phone("<sil>") == "SIL"
    with pytest.raises(ValueError, match="unknown phone label 'QX'"):
        P.normalise_phone("qx")


def test_posteriors_by_hand():
    # SIL [0, 0.1) AA [0.1, 0.3) SIL [0.3, 0.5); steps every 20 ms
    segs = [P.PhoneSegment("SIL", 0.0, 0.1), P.PhoneSegment("AA", 0.1, 0.3), P.PhoneSegment("SIL", 0.3, 0.5)]
    post = P.phone_posteriors(segs, 25, sigma=0.02)
    aa, sil = P.PHONE_SET.index("AA"), P.PHONE_SET.index("SIL")
    assert post.shape == (25, 41)
    np.testing.assert_allclose(post.sum(1), 1.0, atol=1e-6)  # contiguous segments: a distribution per step
    # step 5 (t = 0.1 s) sits on the boundary: Phi(0) - Phi(-10) = 0.5
    assert post[5, aa] == pytest.approx(0.5, abs=1e-6) and post[5, sil] == pytest.approx(0.5, abs=1e-6)
    # step 4 (t = 0.08 s), one sigma before AA starts: Phi(-1) - Phi(-11)
    assert post[4, aa] == pytest.approx(norm.cdf(-1.0), abs=1e-6)
    assert post[10, aa] == pytest.approx(1.0 - 2 * norm.cdf(-5.0), abs=1e-6)  # mid-phone: one-hot
    assert post[0, sil] == pytest.approx(1.0, abs=1e-6)  # the first segment reaches back before step 0
    with pytest.raises(ValueError, match="sigma must be > 0"):
        P.phone_posteriors(segs, 25, sigma=0.0)


def test_phone_error_rate_by_hand():
    assert P.phone_error_rate(["AA", "B", "K"], ["AA", "B", "K"]) == 0.0
    assert P.phone_error_rate(["AA", "B", "K"], ["AA", "K"]) == pytest.approx(1 / 3)  # one deletion
    assert P.phone_error_rate(["AA", "B", "K"], ["AA", "D", "K", "S"]) == pytest.approx(2 / 3)  # sub + ins
    assert P.phone_error_rate(["AA"], []) == 1.0
    with pytest.raises(ValueError, match="reference phone sequence is empty"):
        P.phone_error_rate([], ["AA"])
    segs = [P.PhoneSegment(p, i, i + 1) for i, p in enumerate(["SIL", "AA", "AA", "NOISE", "B", "SIL"])]
    assert P.phone_sequence(segs) == ["AA", "B"]


@pytest.fixture(scope="module")
def clip():
    return make_script(8.0, 0, utterance_seed=3)


def test_recognition_covers_the_clip_and_finds_the_pauses(clip):
    segs = P.recognise_phones(clip.audio)
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(len(clip.audio) / 16000)
    assert all(abs(a.end - b.start) < 1e-9 for a, b in zip(segs, segs[1:]))  # contiguous
    assert all(s.phone in P.PHONE_SET for s in segs)
    # every 10 ms inside a true pause (200 ms or longer, away from its edges) should be silence or noise
    t = np.arange(0, 8.0, 0.01)
    found_sil = np.zeros(len(t), bool)
    for s in segs:
        if s.phone in ("SIL", "NOISE"):
            found_sil[(t >= s.start) & (t < s.end)] = True
    in_pause = np.zeros(len(t), bool)
    for s in clip.segments:
        if s.phone == "SIL" and s.duration >= 0.2:
            in_pause[(t >= s.start + 0.05) & (t < s.end - 0.05)] = True
    assert in_pause.sum() > 50 and found_sil[in_pause].mean() > 0.9
    # and speech is mostly recognised as phones
    in_speech = np.zeros(len(t), bool)
    for s in clip.segments:
        if s.phone != "SIL":
            in_speech[(t >= s.start) & (t < s.end)] = True
    assert (~found_sil[in_speech]).mean() > 0.8
    assert P.recognise_phones(clip.audio) == segs  # deterministic


def test_kind_phones_through_audio(clip):
    feats = A.compute_features(clip.audio, kind="phones")
    assert feats.shape == (1 + len(clip.audio) // 320, 41) and feats.dtype == np.float32
    np.testing.assert_allclose(feats.sum(1), 1.0, atol=1e-5)
    win = A.audio_windows(clip.audio, kind="phones")
    assert win.shape == (200, 16, 41)
    # 8 kHz input is resampled to 16 kHz first, like the other kinds
    from scipy.signal import resample_poly

    half = resample_poly(clip.audio, 1, 2).astype(np.float32)
    assert A.compute_features(half, kind="phones", sr=8000).shape == feats.shape


def test_recognise_refuses_stereo():
    with pytest.raises(ValueError, match="mono"):
        P.recognise_phones(np.zeros((100, 2), np.float32))


# CMUdict pronunciations (stress dropped) made only of phones the formant synthesiser has
PRON = {"hello": "HH AH L OW", "world": "W ER L D", "my": "M AY", "name": "N EY M", "is": "IH Z", "sam": "S AE M"}
PRON.update({"we": "W IY", "like": "L AY K", "big": "B IH G", "red": "R EH D", "boats": "B OW T S"})


def _say(phrases, base_f0=120.0, formant_scale=1.0, seed=0):
    """The synthetic voice saying English words (phrases 0.35 s apart): ``(N,)`` float32 at 16 kHz."""
    segs, t = [S.Segment("SIL", 0.0, 0.3)], 0.3
    for k, phrase in enumerate(phrases):
        for ph in " ".join(PRON[w] for w in phrase.split()).split():
            vowel = S.PHONES[ph].kind == "vowel"
            segs.append(S.Segment(ph, t, 0.16 if vowel else 0.08, vowel, k))
            t += segs[-1].duration
        segs.append(S.Segment("SIL", t, 0.35))
        t += 0.35
    seconds = round(t + 0.1, 2)
    segs[-1] = S.Segment("SIL", segs[-1].start, seconds - segs[-1].start)
    return S.synthesize(segs, seconds, np.random.default_rng(seed), base_f0, formant_scale=formant_scale)


SENTENCE = ["hello world", "my name is sam", "we like big red boats"]


def test_forced_alignment_follows_the_transcripts_dictionary_phones(clip):
    # the synthetic voice says two English words; aligned to them, the phones are their CMUdict ones
    audio = _say(["hello world"])
    segs = P.recognise_phones(audio, "hello world")
    assert P.phone_sequence(segs) == ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]  # CMUdict, in order
    assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(len(audio) / 16000)
    with pytest.raises(ValueError, match="transcript words not in CMUdict: blorpf"):
        P.recognise_phones(clip.audio, "hello blorpf")


@pytest.mark.parametrize("voice", [(120.0, 1.0), (200.0, 1.17)])
def test_whole_transcript_aligns_and_a_partial_one_is_refused(voice):
    audio = _say(SENTENCE, *voice)
    segs = P.recognise_phones(audio, " ".join(SENTENCE))
    assert P.phone_sequence(segs) == " ".join(PRON[w] for w in " ".join(SENTENCE).split()).split()
    # a transcript of the first word(s) only was aligned to them and the rest called silence; refused now
    for part in ("hello", "hello world"):
        with pytest.raises(ValueError, match=r"word(s were| was) aligned to only .* s of the .* s of speech"):
            P.recognise_phones(audio, part)


def test_words_the_nonsense_speaker_does_not_say_are_refused(clip):
    with pytest.raises(ValueError, match="give the whole transcript of what is said"):
        P.recognise_phones(clip.audio, "hello world")


def test_an_alignment_of_silence_only_is_refused():
    audio = _say(["hello world"])
    n = -(-len(audio) // 160)
    with pytest.raises(ValueError, match="aligned to only 0.00 s of the"):
        P._require_coverage([("SIL", 0, n)], audio, 1)
    with pytest.raises(ValueError, match="aligned to only 0.00 s of the"):
        P._require_coverage([], audio, 1)
    P._require_coverage([("HH", 0, n)], audio, 1)  # all of it covered: accepted


def test_empty_and_tiny_clips_are_silence():
    assert P.recognise_phones(np.zeros(0, np.float32)) == []
    assert P.recognise_phones(np.zeros(100, np.float32)) == [P.PhoneSegment("SIL", 0.0, 100 / 16000)]
    feats = A.compute_features(np.zeros(0, np.float32), kind="phones")
    assert feats.shape == (1, 41) and feats[0, P.PHONE_SET.index("SIL")] == 1.0


def test_bad_inputs_are_refused_in_one_line(clip):
    with pytest.raises(ValueError, match="float samples in"):
        P.recognise_phones((clip.audio * 32767).astype(np.int16))
    with pytest.raises(ValueError, match="NaN"):
        P.recognise_phones(np.full(1600, np.nan, np.float32))
    with pytest.raises(ValueError, match="holds no words"):
        P.recognise_phones(clip.audio, " ;!? ")
    with pytest.raises(ValueError, match="could not be aligned"):
        P.recognise_phones(np.zeros(32000, np.float32), "hello world")
    assert P._words('The fox; jumps! "over" don\'t') == ["the", "fox", "jumps", "over", "don't"]
    # clips of a few frames have no hypothesis: silence, not a crash inside the recogniser
    for n in (160, 400):
        assert [s.phone for s in P.recognise_phones(clip.audio[:n])] == ["SIL"]


def test_a_long_clip_shows_a_bar_and_a_short_one_does_not(capsys):
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    P.recognise_phones(tone)  # 1 s: no bar
    assert "phones" not in capsys.readouterr().err
    P.recognise_phones(tone, progress=True)
    assert "phones: 100%" in capsys.readouterr().err
