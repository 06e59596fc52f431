"""htr against the PyTorch implementation of its seed model, measured in the same run.

`python -m bench` runs every case (bench/cases.py) for htr and for the peer
(bench/peer_torch.py, bench/peer_seed.py; bench/peer_crnn.py for line images,
bench/peer_detector.py for pages), each in its own child process so that peak
memory and thread settings are per implementation, prints a table and writes JSON
(bench/run.py).
"""
