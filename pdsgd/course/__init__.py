"""What the notebooks call: widget panels, plots and small measurements.

``widgets`` holds the panels (sliders, a Run button, live plots), ``plots`` the
course's figures, ``lessons`` the measurements a notebook makes in one call
(a gradient check, the cost of a message or of a barrier crossing), and
``distributed`` the BSP-against-averaging comparison of notebook 05.
"""
